#include "api/compiled.h"

#include <atomic>

#include "aten/dtypes.h"

namespace chainconv::api {

uint64_t key_hash(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a final mix
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

uint64_t params_hash(const Options& options) {
  if (options.params.empty() && options.config.empty()) return 0;
  uint64_t h = key_hash(options.config) * 0x9E3779B97F4A7C15ull + 1;
  for (const auto& [name, value] : options.params)
    h = (h ^ key_hash(name)) * 0x100000001b3ull ^ key_hash(value) * 31;
  return h | 1;
}

uint64_t entry_hash(uint64_t key_hash, const at::Tensor& tensor) {
  uint64_t h = key_hash ^ (static_cast<uint64_t>(tensor.scalar_type()) + 0x9E3779B97F4A7C15ull);
  for (int64_t size : tensor.sizes()) h = (h ^ static_cast<uint64_t>(size)) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

std::shared_ptr<const Compiled> Compiled::make(Program program) {
  static std::atomic<uint64_t> next_id{1};
  auto c = std::make_shared<Compiled>();
  c->id = next_id++;
  c->program = std::move(program);
  const Program& p = c->program;
  for (uint32_t s = 0; s < p.inputs(); ++s) c->input_keys.push_back(p.name(s));
  c->kept.assign(p.inputs(), false);
  for (uint32_t s : p.outputs()) {
    c->output_keys.push_back(p.name(s));
    const bool same = s < p.inputs();  // an input slot left in the dict: it passed through
    c->passthrough.push_back(same ? static_cast<int32_t>(s) : -1);
    if (same) c->kept[s] = true;
  }
  size_t capacity = 16;
  while (capacity < 2 * p.inputs()) capacity *= 2;
  c->table_.assign(capacity, {0, -1});
  for (uint32_t s = 0; s < p.inputs(); ++s) {
    const uint64_t h = key_hash(p.name(s));
    size_t at = h & (capacity - 1);
    while (c->table_[at].second >= 0) at = (at + 1) & (capacity - 1);
    c->table_[at] = {h, static_cast<int32_t>(s)};
  }
  return c;
}

int32_t Compiled::find_input(std::string_view key, uint64_t hash) const {
  const size_t mask = table_.size() - 1;
  for (size_t at = hash & mask;; at = (at + 1) & mask) {
    const auto& [h, slot] = table_[at];
    if (slot < 0) return -1;
    if (h == hash && program.name(static_cast<uint32_t>(slot)) == key) return slot;
  }
}

std::shared_ptr<const Compiled> CompiledCache::find(const Signature& signature) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(signature);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void CompiledCache::insert(const Signature& signature, std::shared_ptr<const Compiled> compiled) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(signature);
  if (it != index_.end()) {
    it->second->second = std::move(compiled);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(signature, std::move(compiled));
  index_[signature] = lru_.begin();
  if (lru_.size() > kCapacity) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

}  // namespace chainconv::api
