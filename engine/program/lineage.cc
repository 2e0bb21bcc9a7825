#include "program/lineage.h"

#include <algorithm>

namespace chainconv {

Lineage lineage_of(const Program& program, uint32_t slot) {
  Lineage out;
  std::vector<uint32_t> pending = {slot};
  std::vector<uint32_t> seen;  // a slot's way back is short: a few steps, or one stack's members
  while (!pending.empty()) {
    const uint32_t s = pending.back();
    pending.pop_back();
    if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
    seen.push_back(s);
    const int32_t producer = program.producer(s);
    if (producer < 0) {
      out.sources.push_back(s);
      continue;
    }
    const Step& step = program.step(static_cast<size_t>(producer));
    out.steps.push_back(static_cast<size_t>(producer));
    if (step.kind == StepKind::compute) out.computed = true;
    if (step.kind == StepKind::create) {
      if (s == slot) out.created = true;
      continue;  // its operand lends a dtype and a device, no data
    }
    for (uint32_t k = 0; k < step.operands; ++k) pending.push_back(program.operand(step, k));
  }
  std::sort(out.sources.begin(), out.sources.end());
  std::sort(out.steps.begin(), out.steps.end());
  return out;
}

std::vector<bool> steps_for(const Program& program, const std::vector<size_t>& outputs) {
  std::vector<bool> needed(program.steps().size(), false);
  std::vector<uint32_t> pending;
  for (size_t k : outputs) pending.push_back(program.outputs().at(k));
  while (!pending.empty()) {
    const int32_t producer = program.producer(pending.back());
    pending.pop_back();
    if (producer < 0 || needed[static_cast<size_t>(producer)]) continue;
    needed[static_cast<size_t>(producer)] = true;
    const Step& step = program.step(static_cast<size_t>(producer));
    for (uint32_t k = 0; k < step.operands; ++k) pending.push_back(program.operand(step, k));
  }
  return needed;
}

std::vector<const Op*> ops_of(const Program& program, const std::vector<size_t>& steps) {
  std::vector<const Op*> ops;
  for (size_t i : steps) {
    const Op* op = program.step(i).op;
    if (std::find(ops.begin(), ops.end(), op) == ops.end()) ops.push_back(op);
  }
  return ops;
}

}  // namespace chainconv
