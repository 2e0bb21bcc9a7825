#include "api/compiled.h"

#include <atomic>
#include <cstring>

#include "aten/dtypes.h"

namespace chainconv::api {

// Eight bytes a step (keys are long and share long prefixes), then a final mix.
uint64_t key_hash(std::string_view key) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ key.size();
  const char* p = key.data();
  size_t left = key.size();
  auto mix = [&h](uint64_t word) {
    h = (h ^ word) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  };
  for (; left >= 8; p += 8, left -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    mix(word);
  }
  uint64_t tail = 0;
  if (left) std::memcpy(&tail, p, left);
  mix(tail ^ (static_cast<uint64_t>(left) << 59));
  h *= 0xc4ceb9fe1a85ec53ull;
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

std::shared_ptr<const Compiled> Compiled::make(Program program,
                                               const std::vector<uint64_t>& input_hashes) {
  static std::atomic<uint64_t> next_id{1};
  auto c = std::make_shared<Compiled>();
  c->id = next_id++;
  c->program = std::move(program);
  const Program& p = c->program;
  c->kept.assign(p.inputs(), false);
  size_t chars = 0;
  for (uint32_t s : p.outputs()) chars += p.name(s).size();
  c->output_names.reserve(p.outputs().size(), chars);
  for (uint32_t s : p.outputs()) {
    c->output_names.push(p.name(s));
    const bool same = s < p.inputs();  // an input slot left in the dict: it passed through
    c->passthrough.push_back(same ? static_cast<int32_t>(s) : -1);
    if (same) c->kept[s] = true;
    if (same) ++c->kept_count;
  }
  c->shapes_.reserve(p.inputs());
  for (uint32_t s = 0; s < p.inputs(); ++s) {
    c->shapes_.push(p.desc(s).shape);
    c->dtypes_.push_back(p.desc(s).dtype);
  }
  size_t capacity = 16;
  while (capacity < 2 * p.inputs()) capacity *= 2;
  c->table_.assign(capacity, {0, -1});
  for (uint32_t s = 0; s < p.inputs(); ++s) {
    const uint64_t h = input_hashes.at(s);
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

// The names of `count` slots (the i-th is slot(i)) as strings, made by the first caller.
template <typename Slot>
static const std::vector<std::string>& names_once(std::once_flag& made,
                                                  std::vector<std::string>& names,
                                                  const Program& program, size_t count,
                                                  Slot&& slot) {
  std::call_once(made, [&] {
    names.reserve(count);
    for (size_t i = 0; i < count; ++i) names.push_back(program.name(slot(i)));
  });
  return names;
}

const std::vector<std::string>& Compiled::input_keys() const {
  return names_once(input_keys_made_, input_keys_, program, program.inputs(),
                    [](size_t i) { return static_cast<uint32_t>(i); });
}

const std::vector<std::string>& Compiled::output_keys() const {
  const std::vector<uint32_t>& outputs = program.outputs();
  return names_once(output_keys_made_, output_keys_, program, outputs.size(),
                    [&](size_t i) { return outputs[i]; });
}

bool Compiled::fits_input(uint32_t slot, const at::Tensor& t) const {
  return shapes_.same(slot, t.sizes()) && &dtype_of(t.scalar_type()) == dtypes_[slot];
}

void Listing::remember(const std::vector<TensorRef>& key_set) {
  slot_at_.resize(order.size());
  for (uint32_t s = 0; s < order.size(); ++s) slot_at_[order[s]] = s;
  size_t chars = 0;
  for (const TensorRef& r : key_set) chars += r.key.size();
  keys_.reserve(key_set.size(), chars);
  shapes_.reserve(key_set.size());
  types_.reserve(key_set.size());
  for (const TensorRef& r : key_set) {
    keys_.push(r.key);
    shapes_.push(r.tensor->sizes());
    types_.push_back(r.tensor->scalar_type());
  }
}

void prefetch_entry(const TensorRef& r) {
  __builtin_prefetch(r.key.data());
  const char* impl = reinterpret_cast<const char*>(r.tensor->unsafeGetTensorImpl());
  __builtin_prefetch(impl);
  __builtin_prefetch(impl + 64);
  __builtin_prefetch(impl + 128);
}

bool Listing::same_at(size_t i, std::string_view key, const at::Tensor& t) const {
  return keys_[i] == key && t.defined() && t.scalar_type() == types_[i] &&
         shapes_.same(i, t.sizes());
}

bool Listing::matches(const std::vector<TensorRef>& key_set) const {
  if (key_set.size() != types_.size()) return false;
  return visit_prefetched(key_set,
                          [&](size_t i) { return same_at(i, key_set[i].key, *key_set[i].tensor); });
}

bool Listing::matches(TensorMap& dict, std::vector<TensorMap::iterator>& entries,
                      std::vector<const at::Tensor*>& inputs) const {
  if (dict.size() != types_.size()) return false;
  entries.resize(dict.size());
  inputs.resize(dict.size());
  return visit_prefetched(
      dict.begin(), dict.end(),
      [](TensorMap::iterator it) {
        return TensorRef{it->first, &it->second};
      },
      [&](size_t i, TensorMap::iterator it) {
        if (!same_at(i, it->first, it->second)) return false;
        entries[i] = it;
        inputs[slot_at_[i]] = &it->second;
        return true;
      });
}

ListingKey::ListingKey(size_t count, std::string_view first_key, Direction direction,
                       const Options& options) {
  call.count = count;
  call.direction = direction;
  call.expert_offset = options.expert_offset;
  call.strict = options.strict;
  call.params = params_hash(options);
  first = key_hash(first_key);
}

std::shared_ptr<const Listing> CompiledCache::find(const ListingKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listings_.find(key);
  if (it == listings_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.entry);
  return it->second.listing;
}

void CompiledCache::forget_listing(const Entry& entry, const ListingKey& key) {
  auto it = listings_.find(key);
  if (it != listings_.end() && &*it->second.entry == &entry) listings_.erase(it);
}

void CompiledCache::forget_listings(Entry& entry) {
  for (const ListingKey& key : entry.listings) forget_listing(entry, key);
  entry.listings.clear();
}

void CompiledCache::insert(const ListingKey& key, const Signature& signature,
                           std::shared_ptr<const Listing> listing) {
  std::lock_guard<std::mutex> lock(mu_);
  auto at = index_.find(signature);
  if (at == index_.end() || at->second->compiled != listing->compiled) return;
  Entry& entry = *at->second;
  listings_[key] = Listed{std::move(listing), at->second};
  auto known = std::find(entry.listings.begin(), entry.listings.end(), key);
  if (known != entry.listings.end()) entry.listings.erase(known);
  entry.listings.push_back(key);
  if (entry.listings.size() > kListingsPerKeySet) {
    forget_listing(entry, entry.listings.front());
    entry.listings.erase(entry.listings.begin());
  }
}

std::shared_ptr<const Compiled> CompiledCache::find(const Signature& signature) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(signature);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->compiled;
}

void CompiledCache::insert(const Signature& signature, std::shared_ptr<const Compiled> compiled) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(signature);
  if (it != index_.end()) {
    forget_listings(*it->second);
    it->second->compiled = std::move(compiled);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{signature, std::move(compiled), {}});
  index_[signature] = lru_.begin();
  if (lru_.size() > kCapacity) {
    forget_listings(lru_.back());
    index_.erase(lru_.back().signature);
    lru_.pop_back();
  }
}

}  // namespace chainconv::api
