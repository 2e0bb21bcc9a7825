// Converting a state dict of real tensors: the chain lowered on the dict's descriptions,
// then the step program played by the ATen executor. A failure leaves the dict as it was.
#pragma once

#include <vector>

#include "aten/state_dict.h"
#include "core/error.h"
#include "core/tensor_desc.h"
#include "program/program.h"

namespace chainconv {

struct Chain;

// The descriptions of a dict's tensors (keys, shapes, dtypes), in its order.
std::vector<TensorSpec> specs_of(const StateDict& dict);

// Converts `dict` in place. Warnings are returned (or thrown, with options.strict).
std::vector<Warning> run_chain(const Chain& chain, StateDict& dict, Direction direction,
                               const Options& options = {});
inline std::vector<Warning> to_prime(const Chain& chain, StateDict& dict,
                                     const Options& options = {}) {
  return run_chain(chain, dict, Direction::to_prime, options);
}
inline std::vector<Warning> to_hf(const Chain& chain, StateDict& dict,
                                  const Options& options = {}) {
  return run_chain(chain, dict, Direction::to_hf, options);
}

// Plays `program` on `dict`, whose keys, shapes and dtypes must be its inputs (checked:
// an Error names the first that differs), and replaces its contents with the outputs.
void run_program(const Program& program, StateDict& dict);

}  // namespace chainconv
