// Compiled conversions of key sets, cached by each Chain: a trainer converts the same key
// set (a layer, a shard, the whole model) at every step, and a repeated key set must cost
// the tensor work alone. A key set is recognised by a signature of its keys, shapes and
// dtypes (and the direction and options) that does not depend on the order the caller's
// container lists them in, and confirmed key by key on a hit.
//
// A trainer hands the same container, or one built the same way, at every step, so the
// cache also remembers how each key set it has seen more than once was last listed (a
// Listing): a call listing it the same way is confirmed in one pass in the caller's own
// order, comparing keys, shapes and dtypes, without hashing every key or probing a table.
// Any difference falls back to the signature, so the fast path can only be missed, never
// wrong.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chainconv/chainconv.h"
#include "program/program.h"

namespace chainconv::api {

// Shapes one after another in one array: checking a call's tensors against them reads memory
// in one sweep instead of chasing a vector per shape.
class ShapeList {
 public:
  void reserve(size_t shapes) { end_.reserve(shapes); }
  void push(at::IntArrayRef shape) {
    sizes_.insert(sizes_.end(), shape.begin(), shape.end());
    end_.push_back(static_cast<uint32_t>(sizes_.size()));
  }
  bool same(size_t i, at::IntArrayRef shape) const {
    const uint32_t begin = i ? end_[i - 1] : 0;
    return shape.size() == end_[i] - begin &&
           std::equal(shape.begin(), shape.end(), sizes_.begin() + begin);
  }

 private:
  std::vector<int64_t> sizes_;
  std::vector<uint32_t> end_;  // shape i ends at sizes_[end_[i]]
};

// Keys one after another in one block, for the same reason: a key set's keys are read in a
// sweep on every call, and made with one allocation, not one per key.
class KeyList {
 public:
  void reserve(size_t keys, size_t chars) {
    end_.reserve(keys);
    chars_.reserve(chars);
  }
  void push(std::string_view key) {
    chars_.append(key);
    end_.push_back(static_cast<uint32_t>(chars_.size()));
  }
  size_t size() const { return end_.size(); }
  std::string_view operator[](size_t i) const {
    const uint32_t begin = i ? end_[i - 1] : 0;
    return std::string_view(chars_).substr(begin, end_[i] - begin);
  }

 private:
  std::string chars_;
  std::vector<uint32_t> end_;  // key i ends at chars_[end_[i]]
};

struct Compiled {
  Program program;
  uint64_t id = 0;  // unique per compiled program (for caches of derived data)
  // Per output: the input it is, unchanged and under the same name, or -1.
  std::vector<int32_t> passthrough;
  std::vector<bool> kept;  // per input: some output is it
  size_t kept_count = 0;

  // The keys it takes and gives, in key order, as strings; made on first use (Chain::convert
  // does not need them).
  const std::vector<std::string>& input_keys() const;
  const std::vector<std::string>& output_keys() const;
  // The keys it gives, in key order, held together (the in-place update inserts them on
  // every call: reading them from one block beats chasing the program's names).
  KeyList output_names;

  // The input slot of `key` (whose key_hash is `hash`), or -1.
  int32_t find_input(std::string_view key, uint64_t hash) const;
  // Whether `t` (defined) has the shape and dtype input `slot` was compiled for.
  bool fits_input(uint32_t slot, const at::Tensor& t) const;

  // `input_hashes[s]` is key_hash of input slot s's key: the caller hashed the keys already,
  // to recognise the key set.
  static std::shared_ptr<const Compiled> make(Program program,
                                              const std::vector<uint64_t>& input_hashes);

 private:
  std::vector<std::pair<uint64_t, int32_t>> table_;  // open addressing: (hash, slot)
  mutable std::once_flag input_keys_made_, output_keys_made_;
  mutable std::vector<std::string> input_keys_, output_keys_;
  ShapeList shapes_;  // per input slot
  std::vector<const DtypeInfo*> dtypes_;
};

uint64_t key_hash(std::string_view key);
// Options::params and Options::config, hashed (0 when both are empty: the common case).
uint64_t params_hash(const Options& options);

struct Signature {
  uint64_t sum = 0, mix = 0;
  size_t count = 0;
  Direction direction = Direction::to_prime;
  int64_t expert_offset = 0;
  bool strict = false;
  uint64_t params = 0;  // Options::params and Options::config (0 when both are empty)
  bool operator==(const Signature& o) const {
    return sum == o.sum && mix == o.mix && count == o.count && direction == o.direction &&
           expert_offset == o.expert_offset && strict == o.strict && params == o.params;
  }
};
struct SignatureHash {
  size_t operator()(const Signature& s) const { return s.sum ^ (s.mix * 31) ^ s.count; }
};

// One entry's part of a signature.
uint64_t entry_hash(uint64_t key_hash, const at::Tensor& tensor);

void prefetch_entry(const TensorRef& r);

// Calls visit(i, it) for the entries [begin, end) in order while visit returns true, `ref(it)`
// being entry i's TensorRef; returns whether it always did. The caller's keys and tensors lie
// wherever its container put them: asking for the entries a few places on overlaps the cache
// misses instead of waiting for each in turn (a list's nodes are still walked one by one).
template <class It, class Ref, class Visit>
bool visit_prefetched(It begin, It end, Ref&& ref, Visit&& visit) {
  constexpr size_t kAhead = 8;
  It ahead = begin;
  for (size_t k = 0; k < kAhead && ahead != end; ++k, ++ahead) prefetch_entry(ref(ahead));
  size_t i = 0;
  for (It it = begin; it != end; ++it, ++i) {
    if (ahead != end) prefetch_entry(ref(ahead++));
    if (!visit(i, it)) return false;
  }
  return true;
}
// The same over a key set: visit(i).
template <class Visit>
bool visit_prefetched(const std::vector<TensorRef>& key_set, Visit&& visit) {
  return visit_prefetched(
      key_set.begin(), key_set.end(), [](auto it) { return *it; },
      [&](size_t i, auto) { return visit(i); });
}

// A key set as one call listed it: position i held `key(i)` with the shape and dtype
// recorded, and `order[s]` is the position of input slot s.
class Listing {
 public:
  Listing(std::shared_ptr<const Compiled> compiled, std::vector<uint32_t> order)
      : compiled(std::move(compiled)), order(std::move(order)) {}

  std::shared_ptr<const Compiled> compiled;
  std::vector<uint32_t> order;

  // Keeps the keys, shapes and dtypes of `key_set` (the listing `order` was made for), so
  // that matches() can recognise the same listing.
  void remember(const std::vector<TensorRef>& key_set);
  // Whether `key_set` lists exactly the remembered keys, shapes and dtypes, in this order
  // (every tensor defined).
  bool matches(const std::vector<TensorRef>& key_set) const;
  // The same for a map, walked once: on a match, `entries[i]` is the entry at position i
  // and `inputs[s]` the tensor of input slot s (what the program takes). A map's entries
  // lie wherever its nodes are, so this walk, rather than one to list them and another to
  // compare the list, is what a repeated conversion of a map pays.
  bool matches(TensorMap& dict, std::vector<TensorMap::iterator>& entries,
               std::vector<const at::Tensor*>& inputs) const;

 private:
  // Whether position i held `key` with `t`'s shape and dtype (t defined).
  bool same_at(size_t i, std::string_view key, const at::Tensor& t) const;

  std::vector<uint32_t> slot_at_;       // per position: its input slot (order inverted)
  KeyList keys_;                        // per position
  ShapeList shapes_;                    // per position
  std::vector<c10::ScalarType> types_;  // per position
};

// What picks the Listing to try: the call's size and options (a Signature without its sums)
// and its first key (the Listing itself confirms the rest).
struct ListingKey {
  ListingKey(size_t count, std::string_view first_key, Direction direction, const Options& options);
  Signature call;
  uint64_t first = 0;  // the first key, hashed (a map's is known without walking it)
  bool operator==(const ListingKey& o) const { return call == o.call && first == o.first; }
};
struct ListingKeyHash {
  size_t operator()(const ListingKey& k) const { return SignatureHash()(k.call) ^ k.first; }
};

// The compiled conversions of the key sets last used (at most kCapacity, least recently used
// dropped first), and the listings remembered for each: a listing is forgotten with its
// compiled conversion, so that no listing keeps a dropped conversion alive.
class CompiledCache {
 public:
  static constexpr size_t kCapacity = 256;         // key sets per chain: every layer, both ways
  static constexpr size_t kListingsPerKeySet = 2;  // the latest ways of listing one key set

  std::shared_ptr<const Compiled> find(const Signature& signature);
  void insert(const Signature& signature, std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Listing> find(const ListingKey& key);
  // Remembers `listing` of the key set `signature` names, while that key set's compiled
  // conversion (listing->compiled) is cached; otherwise does nothing.
  void insert(const ListingKey& key, const Signature& signature,
              std::shared_ptr<const Listing> listing);

 private:
  struct Entry {
    Signature signature;
    std::shared_ptr<const Compiled> compiled;
    std::vector<ListingKey> listings;  // oldest first; some may be another's by now
  };
  using Lru = std::list<Entry>;
  // Forgets the listing under `key` if it is still `entry`'s; all of `entry`'s.
  void forget_listing(const Entry& entry, const ListingKey& key);
  void forget_listings(Entry& entry);

  std::mutex mu_;
  Lru lru_;  // most recently used first
  std::unordered_map<Signature, Lru::iterator, SignatureHash> index_;
  struct Listed {
    std::shared_ptr<const Listing> listing;
    Lru::iterator entry;  // of listing->compiled: a hit by listing is a use of it too
  };
  std::unordered_map<ListingKey, Listed, ListingKeyHash> listings_;
};

}  // namespace chainconv::api
