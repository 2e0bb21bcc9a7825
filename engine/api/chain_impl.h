// What a public Chain holds, shared by the API's translation units.
#pragma once

#include <memory>

#include "chainconv/chainconv.h"
#include "dsl/chain.h"

namespace chainconv::api {

struct Chain::Impl {
  std::unique_ptr<const chainconv::Chain> chain;
  // What it was compiled from, so that check() lints exactly that text.
  std::string text;
  std::string include_dir;
};

inline chainconv::Direction engine_direction(Direction d) {
  return d == Direction::to_prime ? chainconv::Direction::to_prime : chainconv::Direction::to_hf;
}

inline RunOptions engine_options(const Options& options) {
  RunOptions run;
  run.expert_offset = options.expert_offset;
  run.strict = options.strict;
  return run;
}

// The engine's dict holding the same tensor handles as `dict` (no data is copied); throws
// Error naming a key whose tensor is undefined.
StateDict engine_dict(const TensorMap& dict);
// Makes `dict` hold exactly the tensors of `converted` (called once the conversion has
// succeeded, so that a failure leaves `dict` as it was).
void replace_contents(TensorMap& dict, const StateDict& converted);

Plan make_plan(const chainconv::Chain& chain, const TensorMap& dict, Direction direction,
               const Options& options);

}  // namespace chainconv::api
