// What a public Chain holds, shared by the API's translation units.
#pragma once

#include <memory>

#include "api/compiled.h"
#include "chainconv/chainconv.h"
#include "dsl/chain.h"
#include "program/program.h"

namespace chainconv::api {

struct Chain::Impl {
  std::unique_ptr<const chainconv::Chain> chain;
  // What it was compiled from, so that check() lints exactly that text.
  std::string text;
  std::string include_dir;
  mutable CompiledCache cache;  // the key sets last converted or compiled
};

// The compiled conversion of `key_set`, from the chain's cache (confirmed key by key) or
// lowered and cached, with the listing's `order[i]`: the index in `key_set` of the tensor of
// input i.
std::shared_ptr<const Listing> lookup(const Chain::Impl& chain,
                                      const std::vector<TensorRef>& key_set, Direction direction,
                                      const Options& options);
// The same past the listing (`listing_key` is the key set's, its listing tried already):
// the signature, then lowering if the key set is new.
std::shared_ptr<const Listing> lookup_unlisted(const Chain::Impl& chain,
                                               const std::vector<TensorRef>& key_set,
                                               const ListingKey& listing_key, Direction direction,
                                               const Options& options);
// The outputs of `program` on the tensors of `key_set` (already checked against it),
// borrowed: `order[s]` is the index in `key_set` of input slot s's tensor.
std::vector<at::Tensor> execute_in_order(const Program& program,
                                         const std::vector<TensorRef>& key_set,
                                         const std::vector<uint32_t>& order);
// Views of a map's entries.
std::vector<TensorRef> refs_of(const TensorMap& dict);
// The same, with each entry's iterator (what update_in_place needs), in one walk of the map.
void view_map(TensorMap& dict, std::vector<TensorRef>& refs,
              std::vector<TensorMap::iterator>& entries);

// The descriptions of a map's tensors (keys, shapes, dtypes); throws Error naming a key
// whose tensor is undefined.
std::vector<TensorSpec> specs_of(const TensorMap& dict);
// The program converting `dict` (lowered on its descriptions; no data is read).
Program lower_map(const Chain::Impl& chain, const TensorMap& dict, Direction direction,
                  const Options& options);
// Makes `dict` hold exactly the outputs (called once they exist, so that a failure leaves
// `dict` as it was): consumed inputs leave, new outputs enter, passed-through keys stay.
// `entries[i]` is the entry of the key set's i-th tensor.
void update_in_place(TensorMap& dict, const Compiled& compiled,
                     const std::vector<TensorMap::iterator>& entries,
                     const std::vector<uint32_t>& order, std::vector<at::Tensor> outputs);

}  // namespace chainconv::api
