// The public Chain: loading, and in-place conversion of a TensorMap through the engine.
#include <algorithm>
#include <filesystem>

#include "api/chain_impl.h"
#include "api/guard.h"
#include "aten/dtypes.h"
#include "aten/execute.h"
#include "core/read_file.h"
#include "core/text.h"
#include "program/lower.h"
#include "program/lower_by_layer.h"
#include "registry/chain_registry.h"

namespace chainconv::api {

std::vector<TensorSpec> specs_of(const TensorMap& dict) {
  std::vector<TensorSpec> specs;
  specs.reserve(dict.size());
  for (const auto& [key, tensor] : dict) {
    if (!tensor.defined()) throw Error(Position{}, "tensor '" + key + "' is undefined");
    specs.push_back({key, dims_of(tensor.sizes()), &dtype_of(tensor.scalar_type())});
  }
  return specs;
}

Program lower_map(const Chain::Impl& chain, const TensorMap& dict, Direction direction,
                  const Options& options) {
  return lower(*chain.chain, direction, specs_of(dict), options);
}

std::vector<TensorRef> refs_of(const TensorMap& dict) {
  std::vector<TensorRef> refs;
  refs.reserve(dict.size());
  for (const auto& [key, tensor] : dict) refs.push_back({key, &tensor});
  return refs;
}

void view_map(TensorMap& dict, std::vector<TensorRef>& refs,
              std::vector<TensorMap::iterator>& entries) {
  refs.reserve(dict.size());
  entries.reserve(dict.size());
  for (auto it = dict.begin(); it != dict.end(); ++it) {
    refs.push_back({it->first, &it->second});
    entries.push_back(it);
  }
}

std::shared_ptr<const Listing> lookup(const Chain::Impl& chain,
                                      const std::vector<TensorRef>& key_set, Direction direction,
                                      const Options& options) {
  const ListingKey listing_key(key_set.size(), key_set.empty() ? "" : key_set.front().key,
                               direction, options);
  if (std::shared_ptr<const Listing> same = chain.cache.find(listing_key))
    if (same->matches(key_set)) return same;
  return lookup_unlisted(chain, key_set, listing_key, direction, options);
}

std::shared_ptr<const Listing> lookup_unlisted(const Chain::Impl& chain,
                                               const std::vector<TensorRef>& key_set,
                                               const ListingKey& listing_key, Direction direction,
                                               const Options& options) {
  Signature signature = listing_key.call;  // and the sums over every entry
  std::vector<uint64_t> hashes(key_set.size());
  visit_prefetched(key_set, [&](size_t i) {
    const at::Tensor& t = *key_set[i].tensor;
    if (!t.defined()) throw Error("tensor '" + std::string(key_set[i].key) + "' is undefined");
    hashes[i] = key_hash(key_set[i].key);
    const uint64_t e = entry_hash(hashes[i], t);
    signature.sum += e;  // order-independent: a sum and a sum of squares-like mix
    signature.mix += e * e + (e >> 17);
    return true;
  });
  std::vector<uint32_t> order(key_set.size(), 0);
  std::shared_ptr<const Compiled> compiled = chain.cache.find(signature);
  if (compiled) {
    const Program& p = compiled->program;
    bool same = p.inputs() == key_set.size();
    for (size_t i = 0; same && i < key_set.size(); ++i) {
      const int32_t slot = compiled->find_input(key_set[i].key, hashes[i]);
      same = slot >= 0 && compiled->fits_input(static_cast<uint32_t>(slot), *key_set[i].tensor);
      if (same) order[static_cast<size_t>(slot)] = static_cast<uint32_t>(i);
    }
    if (!same) compiled = nullptr;
  }
  const bool seen_before = compiled != nullptr;
  if (!compiled) {
    std::vector<TensorSpec> specs;
    specs.reserve(key_set.size());
    for (const TensorRef& r : key_set)
      specs.push_back(
          {std::string(r.key), dims_of(r.tensor->sizes()), &dtype_of(r.tensor->scalar_type())});
    // The program's inputs are the key set in key order: `order` says where each one is in
    // `key_set` (whose order the specs keep).
    Program program = lower_by_layer(*chain.chain, direction, std::move(specs), options, &order);
    std::vector<uint64_t> slot_hashes(order.size());  // the hashes made above, by input slot
    for (size_t s = 0; s < order.size(); ++s) slot_hashes[s] = hashes[order[s]];
    compiled = Compiled::make(std::move(program), slot_hashes);
    chain.cache.insert(signature, compiled);
  }
  // A key set is remembered as listed once it comes again: one converted once (a checkpoint
  // converted layer by layer) does not pay for copying its keys.
  auto listing = std::make_shared<Listing>(std::move(compiled), std::move(order));
  if (seen_before) {
    listing->remember(key_set);
    chain.cache.insert(listing_key, signature, listing);
  }
  return listing;
}

// Releases the tensors of the entries about to leave `dict` before any entry goes. A release
// is an atomic decrement; one between every two frees (what clear() and erase() do, entry by
// entry) keeps the frees from overlapping: on 18,432 expert entries a clear() took about 3x
// as long as this pass and a clear() of the emptied entries together.
static void release_leaving(const Compiled& compiled,
                            const std::vector<TensorMap::iterator>& entries,
                            const std::vector<uint32_t>& order) {
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i + kAhead < order.size())
      __builtin_prefetch(entries[order[i + kAhead]]->second.unsafeGetTensorImpl());
    if (!compiled.kept[i]) entries[order[i]]->second.reset();
  }
}

void update_in_place(TensorMap& dict, const Compiled& compiled,
                     const std::vector<TensorMap::iterator>& entries,
                     const std::vector<uint32_t>& order, std::vector<at::Tensor> outputs) {
  release_leaving(compiled, entries, order);
  if (order.size() == dict.size() && compiled.kept_count * 2 < order.size()) {
    // Most entries leave (experts stacked): the few that stay are unlinked as they are and
    // the rest freed in one sweep, instead of unlinking every leaving entry from its bucket.
    std::vector<TensorMap::node_type> staying;
    staying.reserve(compiled.kept_count);
    for (size_t i = 0; i < order.size(); ++i)
      if (compiled.kept[i]) staying.push_back(dict.extract(entries[order[i]]));
    dict.clear();
    for (TensorMap::node_type& node : staying) dict.insert(std::move(node));
  } else {
    for (size_t i = 0; i < order.size(); ++i)
      if (!compiled.kept[i]) dict.erase(entries[order[i]]);
  }
  // One rehash at most, and never to fewer buckets: std::unordered_map::reserve shrinks a
  // map that holds fewer entries than its buckets allow (every to_prime), and the freed
  // bucket array and the next one cost more than they save (a page fault per 4 KB on some
  // machines); a dict converted back and forth at every step keeps its buckets.
  const size_t entries_after = dict.size() + outputs.size() - compiled.kept_count;
  if (entries_after > dict.bucket_count() * dict.max_load_factor()) dict.reserve(entries_after);
  for (size_t i = 0; i < outputs.size(); ++i)
    if (compiled.passthrough[i] < 0)
      dict.insert_or_assign(std::string(compiled.output_names[i]), std::move(outputs[i]));
}

Chain::Chain(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Chain::Chain(Chain&&) noexcept = default;
Chain& Chain::operator=(Chain&&) noexcept = default;
Chain::Chain(const Chain&) = default;
Chain& Chain::operator=(const Chain&) = default;
Chain::~Chain() = default;

static std::shared_ptr<const Chain::Impl> compile_text(std::string text, const std::string& name,
                                                       std::string include_dir) {
  auto impl = std::make_shared<Chain::Impl>();
  impl->chain = load_chain_string(text, name, include_dir);
  impl->text = std::move(text);
  impl->include_dir = std::move(include_dir);
  return impl;
}

Chain Chain::load(const std::string& path) {
  return guarded([&] {
    return Chain(compile_text(read_regular_file(path, kMaxTextFileSize, "chain file"), path,
                              std::filesystem::path(path).parent_path().string()));
  });
}

Chain Chain::from_string(const std::string& yaml, const std::string& name,
                         const std::string& include_dir) {
  return guarded([&] {
    return Chain(compile_text(yaml, name,
                              include_dir.empty() ? chainconv::default_chains_dir() : include_dir));
  });
}

Chain Chain::for_model_type(const std::string& model_type, const std::string& chains_dir) {
  if (chains_dir.empty()) return for_model_type(model_type, Lookup{});
  return for_model_type(model_type, Lookup{{chains_dir}, false});
}

Chain Chain::for_model_type(const std::string& model_type, const Lookup& lookup) {
  return guarded([&] {
    return load(ChainRegistry::scan(search_path(lookup), lookup.target).chain_for(model_type));
  });
}

std::vector<Warning> Chain::convert(TensorMap& dict, Direction direction,
                                    const Options& options) const {
  return guarded([&] {
    std::vector<TensorMap::iterator> entries;
    // A map listed as last time is confirmed and gathered in one walk of its nodes; any
    // other is listed (a walk) and looked up by its signature, its listing tried already.
    const ListingKey listing_key(dict.size(), dict.empty() ? "" : dict.begin()->first, direction,
                                 options);
    if (std::shared_ptr<const Listing> same = impl_->cache.find(listing_key)) {
      std::vector<const at::Tensor*> inputs;
      if (same->matches(dict, entries, inputs)) {
        const Compiled& compiled = *same->compiled;
        update_in_place(dict, compiled, entries, same->order, execute(compiled.program, inputs));
        return compiled.program.warnings();
      }
      entries.clear();
    }
    std::vector<TensorRef> refs;
    view_map(dict, refs, entries);
    std::shared_ptr<const Listing> listing =
        lookup_unlisted(*impl_, refs, listing_key, direction, options);
    const Compiled& compiled = *listing->compiled;
    std::vector<at::Tensor> outputs = execute_in_order(compiled.program, refs, listing->order);
    update_in_place(dict, compiled, entries, listing->order, std::move(outputs));
    return compiled.program.warnings();
  });
}

std::vector<Warning> Chain::to_prime(TensorMap& dict, const Options& options) const {
  return convert(dict, Direction::to_prime, options);
}

std::vector<Warning> Chain::to_hf(TensorMap& dict, const Options& options) const {
  return convert(dict, Direction::to_hf, options);
}

const std::string& Chain::file() const { return impl_->chain->file; }
const std::vector<std::string>& Chain::model_types() const { return impl_->chain->model_types; }
const std::string& Chain::description() const { return impl_->chain->description; }

std::vector<std::string> sorted_keys(const TensorMap& dict) {
  std::vector<std::string> keys;
  keys.reserve(dict.size());
  for (const auto& entry : dict) keys.push_back(entry.first);
  sort_naturally(keys, [](const std::string& k) -> std::string_view { return k; });
  return keys;
}

std::string default_chains_dir() { return chainconv::default_chains_dir(); }

std::vector<std::string> search_path(const Lookup& lookup) {
  if (lookup.default_dir) return chainconv::chains_search_path(lookup.chains_dirs);
  std::vector<std::string> dirs;
  for (const std::string& dir : lookup.chains_dirs)
    if (!dir.empty()) dirs.push_back(dir);
  return dirs;
}

std::vector<std::pair<std::string, std::string>> chains(const std::string& chains_dir) {
  if (chains_dir.empty()) return chains(Lookup{});
  return chains(Lookup{{chains_dir}, false});
}

std::vector<std::pair<std::string, std::string>> chains(const Lookup& lookup) {
  return guarded([&] {
    ChainRegistry registry = ChainRegistry::scan(search_path(lookup), lookup.target);
    return std::vector<std::pair<std::string, std::string>>(registry.model_types().begin(),
                                                            registry.model_types().end());
  });
}

}  // namespace chainconv::api
