// The correctness check: a chain run on one side of a model must make the other side exactly.
// An invertible chain can still be wrong (a fused gate_up split on the wrong dim verifies
// byte for byte); a target layout (chains/layouts/<model>.prime.yaml) says what forward must
// make of the HF layout, as a function of the same config, so the chain is held to both.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "check/finding.h"
#include "core/tensor_desc.h"
#include "dsl/chain.h"

namespace chainconv {

// Forward on `hf` must give `target` (keys, shapes, dtypes) and backward on `target` must give
// `hf_back` (`hf` in the HF expert layout backward writes, which may be the other one). And
// what shapes cannot show: each target key in `made_by` must be made through those op kinds
// forward, and what backward makes from it must pass through them too (a Llama chain that
// renames q without its RoPE permutation has every shape right). Each
// difference is an error ("target") at the op that made the wrong tensor, or at the chain's first
// line for a tensor no op touched or one no op made; in the order the steps ran, so the first one
// listed is where the chain first went wrong. A lowering that fails is left to the roundtrip check,
// which reports it.
//
// The other side of a model for a chain target: its name ("prime", "torchtitan"), what
// forward must make, what must be on each tensor's way, and the HF layout backward must give.
struct TargetSide {
  std::string name;
  const std::vector<TensorSpec>* tensors = nullptr;
  const std::map<std::string, std::vector<std::string>>* made_by = nullptr;
  const std::vector<TensorSpec>* hf_back = nullptr;
};

std::vector<Finding> check_against_target(const Chain& chain, const std::vector<TensorSpec>& hf,
                                          const TargetSide& target, const Options& options = {});
// The same with forward already lowered on the HF layout (the roundtrip check's program).
std::vector<Finding> check_against_target(const Chain& chain, const Program& forward,
                                          const TargetSide& target, const Options& options = {});

}  // namespace chainconv
