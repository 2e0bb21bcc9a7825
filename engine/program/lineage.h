// What a slot of a step program was made from: the only lineage in the engine, read by
// plans (chainconv plan, Chain::plan), the file executor and verify.
#pragma once

#include <vector>

#include "program/program.h"

namespace chainconv {

struct Lineage {
  std::vector<uint32_t> sources;  // input slots its data comes from (none: created)
  std::vector<size_t> steps;      // the steps on its way, in the order they ran
  bool computed = false;          // a compute step is on its way: its values are new
  bool created = false;           // a create step made it
};

Lineage lineage_of(const Program& program, uint32_t slot);

// Which steps making the given outputs (indices into program.outputs()) depend on: the
// only ones an executor has to play to make just those.
std::vector<bool> steps_for(const Program& program, const std::vector<size_t>& outputs);

// The distinct ops of `steps`, in order.
std::vector<const Op*> ops_of(const Program& program, const std::vector<size_t>& steps);

}  // namespace chainconv
