// Lowering: a chain run on tensor descriptions. Every op matches its templates against the
// dict as the previous op left it and says what it does as steps; the result is the step
// program of that key set (program/program.h). Nothing here touches tensor data or LibTorch.
#pragma once

#include <vector>

#include "core/tensor_desc.h"
#include "program/program.h"

namespace chainconv {

struct Chain;

// The program converting `inputs` (in any order; keys must be distinct) in `direction`.
// Throws Error at the op that refuses the key set (an expert gap, mixed dtypes, a key that
// would be overwritten) and for options out of range; with options.strict, warnings too.
// With `input_order`, sets (*input_order)[s] to the index in `inputs` of input slot s.
Program lower(const Chain& chain, Direction direction, std::vector<TensorSpec> inputs,
              const Options& options = {}, std::vector<uint32_t>* input_order = nullptr);

// The outputs of `program` as a key set: the inputs of the program converting them back.
std::vector<TensorSpec> output_specs(const Program& program);

// Throws Error when `options` are out of range (a negative or huge expert offset).
void check_options(const Options& options);

}  // namespace chainconv
