// Compiled conversions of key sets, cached by each Chain: a trainer converts the same key
// set (a layer, a shard, the whole model) at every step, and a repeated key set must cost
// the tensor work alone. A key set is recognised by a signature of its keys, shapes and
// dtypes (and the direction and options) that does not depend on the order the caller's
// container lists them in, and confirmed key by key on a hit.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chainconv/chainconv.h"
#include "program/program.h"

namespace chainconv::api {

struct Compiled {
  Program program;
  uint64_t id = 0;  // unique per compiled program (for caches of derived data)
  std::vector<std::string> input_keys, output_keys;
  // Per output: the input it is, unchanged and under the same name, or -1.
  std::vector<int32_t> passthrough;
  std::vector<bool> kept;  // per input: some output is it

  // The input slot of `key` (whose key_hash is `hash`), or -1.
  int32_t find_input(std::string_view key, uint64_t hash) const;

  static std::shared_ptr<const Compiled> make(Program program);

 private:
  std::vector<std::pair<uint64_t, int32_t>> table_;  // open addressing: (hash, slot)
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

class CompiledCache {
 public:
  static constexpr size_t kCapacity = 256;  // key sets per chain: every layer, both ways

  std::shared_ptr<const Compiled> find(const Signature& signature);
  void insert(const Signature& signature, std::shared_ptr<const Compiled> compiled);

 private:
  using Lru = std::list<std::pair<Signature, std::shared_ptr<const Compiled>>>;
  std::mutex mu_;
  Lru lru_;  // most recently used first
  std::unordered_map<Signature, Lru::iterator, SignatureHash> index_;
};

}  // namespace chainconv::api
