// What a public Chain holds, shared by the API's translation units.
#pragma once

#include <memory>

#include "chainconv/chainconv.h"
#include "dsl/chain.h"
#include "program/program.h"

namespace chainconv::api {

struct Chain::Impl {
  std::unique_ptr<const chainconv::Chain> chain;
  // What it was compiled from, so that check() lints exactly that text.
  std::string text;
  std::string include_dir;
};

// The descriptions of a map's tensors (keys, shapes, dtypes); throws Error naming a key
// whose tensor is undefined.
std::vector<TensorSpec> specs_of(const TensorMap& dict);
// The program converting `dict` (lowered on its descriptions; no data is read).
Program lower_map(const Chain::Impl& chain, const TensorMap& dict, Direction direction,
                  const Options& options);
// `dict`'s tensors in the program's input order.
std::vector<at::Tensor> inputs_in_order(const Program& program, const TensorMap& dict);
// Makes `dict` hold exactly the program's outputs (called once they exist, so that a
// failure leaves `dict` as it was).
void replace_contents(TensorMap& dict, const Program& program, std::vector<at::Tensor> outputs);

}  // namespace chainconv::api
