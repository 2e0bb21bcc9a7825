// The file executor: a step program played on bytes in files instead of tensors. An input's
// bytes are one run of its safetensors file; a move or a view (select / narrow / squeeze)
// names runs of its storage through its description's offset and strides; a stack or a
// concatenation interleaves its operands' runs. So every output that only moves data is a
// list of (file, offset, length) runs the writer copies file to file. Only outputs of
// compute steps need values (the ATen executor makes them), and created tensors are zeros.
#pragma once

#include <cstdint>
#include <vector>

#include "io/byte_runs.h"
#include "program/program.h"

namespace chainconv {

struct OutputBytes {
  enum class From { runs, computed, zeros };
  From from = From::runs;
  ByteRuns runs;  // From::runs: the output's bytes, in element order
};

// For each of program.outputs(): where its bytes come from. `inputs[i]` is where input slot
// i's bytes lie (its length must be the slot's size).
std::vector<OutputBytes> output_bytes(const Program& program, const std::vector<ByteRun>& inputs);

// The program played on tensors held in memory: `inputs[i]` holds input slot i's bytes.
// Moved bytes are copied, computed ones made by the compute backend (io/compute.h), created
// ones zeros. Returns each output's bytes, in program.outputs() order.
std::vector<std::vector<uint8_t>> play_in_memory(const Program& program,
                                                 const std::vector<const uint8_t*>& inputs);

}  // namespace chainconv
