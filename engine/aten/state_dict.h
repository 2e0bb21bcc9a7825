// A state dict of real tensors, as the ATen executor takes and gives it: key -> tensor, kept
// sorted (the order of a step program's inputs and outputs), listed in natural order.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.h"

namespace chainconv {

// One entry. `opaque_dtype` names a dtype this LibTorch cannot compute on (e.g. "F8_E4M3"):
// the tensor then holds the raw elements in a same-width integer dtype, moves through
// rename / stack / split unchanged, and any value transform on it is an error.
struct Item {
  at::Tensor tensor;
  std::string opaque_dtype;
};

class StateDict {
 public:
  using Map = std::map<std::string, Item, std::less<>>;

  StateDict() = default;
  StateDict(std::initializer_list<std::pair<const std::string, at::Tensor>> init);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  bool contains(std::string_view key) const { return items_.find(key) != items_.end(); }

  // Throws Error naming the key if it is absent.
  const Item& item(std::string_view key) const;
  const at::Tensor& at(std::string_view key) const { return item(key).tensor; }
  const Item* find(std::string_view key) const;

  // Inserts; throws Error if the key exists (ops never overwrite silently).
  void insert(std::string key, Item item);
  void insert(std::string key, at::Tensor tensor) {
    insert(std::move(key), Item{std::move(tensor), {}});
  }
  // Inserts or replaces (for callers building a dict, and for in-place value maps).
  void set(std::string key, Item item);
  // Moves the entry at `from` to `to` without touching its tensor (the map node is relinked,
  // not copied). Throws Error if `from` is absent or `to` exists.
  void rename(std::string_view from, std::string to);
  // Removes and returns; throws Error if absent.
  Item take(std::string_view key);
  bool erase(std::string_view key);
  // Bulk moves for callers that rebuild a whole dict (a replay plan): take every item out
  // in key order, leaving the dict empty; and add a key after all the present ones (O(1)).
  // append() throws Error unless `key` sorts after every key present.
  std::vector<Item> take_all();
  void append(std::string key, Item item);

  // Calls fn(key, item) for each key starting with `prefix`, in lexicographic order.
  // fn must not add or remove keys; collect first, then mutate.
  void for_each_with_prefix(std::string_view prefix,
                            const std::function<void(const std::string&, const Item&)>& fn) const;
  std::vector<std::string> keys_with_prefix(std::string_view prefix) const;

  // All keys in natural order (how people and the safetensors writer list them).
  std::vector<std::string> keys() const;

  // The first key not less than `key` (lexicographically): where a prefix range starts.
  Map::const_iterator lower_bound(std::string_view key) const { return items_.lower_bound(key); }
  Map::const_iterator begin() const { return items_.begin(); }
  Map::const_iterator end() const { return items_.end(); }

 private:
  Map items_;
};

}  // namespace chainconv
