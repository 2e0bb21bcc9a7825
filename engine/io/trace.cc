#include "io/trace.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/stack.h>

#include <algorithm>
#include <unordered_map>

#include "dsl/chain.h"

namespace chainconv {
namespace {

struct Lineage {
  std::vector<std::string> sources;
  std::vector<const Op*> ops;
  bool computed = false;
  bool known = true;  // false: the key appeared without an observed step
};

template <typename T>
void add_unique(std::vector<T>& to, const T& value) {
  if (std::find(to.begin(), to.end(), value) == to.end()) to.push_back(value);
}

const void* storage_id(const at::Tensor& t) { return t.storage().unsafeGetStorageImpl(); }

uint64_t nbytes_of(const at::Tensor& t) {
  return static_cast<uint64_t>(t.numel()) * t.element_size();
}

// Follows the chain step by step (as its Observer). Every tensor's storage is known as a
// list of byte runs: an input's storage is its place in its file; a tensor made by stacking
// or concatenating inputs gets runs composed from theirs. A view (rename, unstack, split,
// squeeze) shares its base's storage, so its runs follow from its strides.
class Tracker final : public Observer {
 public:
  Tracker(StateDict& dict, Direction direction, const RunOptions& options,
          const std::vector<const KeyTemplate*>& value_templates)
      : dict_(dict), direction_(direction), options_(options), value_templates_(value_templates) {}

  void add_input(const std::string& key, const ByteRun& location) {
    const Item& item = dict_.item(key);
    Lineage& lineage = lineage_[key];
    lineage.sources = {key};
    lineage.computed = transformed(key);
    live_[key] = item;
    keep_.push_back(item.tensor);
    if (nbytes_of(item.tensor) != location.length)
      throw Error("internal: input '" + key + "' does not match its file location");
    storage_runs_[storage_id(item.tensor)] = ByteRuns(location);
  }

  void on_step(const Op& op, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs) override {
    Lineage merged;
    std::vector<Item> in_items;
    for (const std::string& key : inputs) {
      auto it = lineage_.find(key);
      const Lineage& from = it != lineage_.end() ? it->second : unknown_;
      for (const std::string& s : from.sources) add_unique(merged.sources, s);
      for (const Op* o : from.ops) add_unique(merged.ops, o);
      merged.computed |= from.computed;
      merged.known &= from.known;
      auto live = live_.find(key);
      if (live != live_.end())
        in_items.push_back(live->second);
      else
        merged.known = false;
    }
    add_unique(merged.ops, &op);
    for (const std::string& key : inputs) {
      if (std::find(outputs.begin(), outputs.end(), key) != outputs.end() || dict_.contains(key))
        continue;
      if (outputs.empty())
        for (const std::string& s : lineage_[key].sources) dropped_.emplace(s, &op);
      lineage_.erase(key);
      live_.erase(key);
    }
    std::vector<std::pair<std::string, at::Tensor>> fresh;  // outputs in storage not known yet
    for (const std::string& key : outputs) {
      const Item* item = dict_.find(key);
      if (!item) continue;  // removed again by the same op
      Lineage lineage = merged;
      lineage.computed |= transformed(key);
      lineage_[key] = lineage;
      live_[key] = *item;
      keep_.push_back(item->tensor);
      if (item->tensor.numel() > 0 && !storage_runs_.count(storage_id(item->tensor)))
        fresh.emplace_back(key, item->tensor);
    }
    // A view (rename, unstack, split) shares its input's storage, whose runs are known; an
    // output in new storage is a stack or a concatenation of several inputs, or computed.
    if (inputs.size() > 1 && in_items.size() == inputs.size() && fresh.size() == 1 &&
        outputs.size() == 1)
      compose(op, inputs, in_items, fresh[0].first, fresh[0].second);
  }

  // The bytes of `t` as runs of input bytes, if its storage is known.
  std::optional<ByteRuns> resolve(const at::Tensor& t) const {
    if (t.numel() == 0) return ByteRuns{};
    auto it = storage_runs_.find(storage_id(t));
    if (it == storage_runs_.end()) return std::nullopt;
    const ByteRuns& base = it->second;
    ByteRuns out;
    bool inside = true;
    for_each_view_block(t.sizes().vec(), t.strides().vec(), t.storage_offset(),
                        static_cast<uint64_t>(t.element_size()),
                        [&](uint64_t begin, uint64_t length) {
                          if (begin + length > base.size())
                            inside = false;
                          else
                            out.append(base.slice(begin, begin + length));
                        });
    if (!inside) return std::nullopt;
    return out;
  }

  GroupTrace finish(std::vector<Warning> warnings) {
    GroupTrace trace;
    trace.warnings = std::move(warnings);
    std::vector<std::string> used;
    for (const std::string& key : dict_.keys()) {
      TracedOutput out;
      out.key = key;
      out.item = dict_.item(key);
      auto it = lineage_.find(key);
      const Lineage& lineage = it != lineage_.end() ? it->second : unknown_;
      out.sources = lineage.sources;
      out.ops = lineage.ops;
      out.computed = lineage.computed;
      if (lineage.known) out.runs = resolve(out.item.tensor);
      if (!lineage.known) out.computed = true;
      for (const std::string& s : out.sources) used.push_back(s);
      trace.outputs.push_back(std::move(out));
    }
    for (const auto& [key, op] : dropped_)
      if (std::find(used.begin(), used.end(), key) == used.end()) trace.dropped.emplace(key, op);
    return trace;
  }

 private:
  bool transformed(const std::string& key) const {
    for (const KeyTemplate* t : value_templates_)
      if (t->match(key, Bindings{})) return true;
    return false;
  }

  // `op` made `out_key` from `inputs` in new storage. Replays the op on tiny probe tensors
  // whose every element is distinct (sizes 2, 3, 5, ... per dim) to learn how: a stack or a
  // concatenation of the inputs, in their step order, along some dim. Then the output's
  // runs are the inputs' runs interleaved accordingly. Anything else stays unresolved.
  void compose(const Op& op, const std::vector<std::string>& inputs, const std::vector<Item>& items,
               const std::string& out_key, const at::Tensor& out) {
    static const int64_t primes[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    StateDict probe;
    std::vector<at::Tensor> probe_inputs;
    int64_t next = 0;
    try {
      for (size_t i = 0; i < inputs.size(); ++i) {
        const int64_t rank = items[i].tensor.dim();
        if (rank > 12) return;
        std::vector<int64_t> shape(primes, primes + rank);
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        at::Tensor t =
            at::arange(next, next + n, at::TensorOptions().dtype(at::kLong)).reshape(shape);
        next += n;
        probe.insert(inputs[i], Item{t, items[i].opaque_dtype});
        probe_inputs.push_back(t);
      }
      std::vector<Warning> ignored;
      Context ctx{probe, direction_, options_, {}, &ignored, nullptr};
      op.run(ctx);
      const Item* got = probe.find(out_key);
      if (!got) return;
      const int64_t rank = probe_inputs.front().dim();
      for (int64_t d = 0; d <= rank; ++d)
        if (matches(at::stack(probe_inputs, d), got->tensor)) return interleave(d, items, out);
      for (int64_t d = 0; d < rank; ++d)
        if (matches(at::cat(probe_inputs, d), got->tensor)) return interleave(d, items, out);
    } catch (const std::exception&) {
      // The op rejected the probe, or it is not a stack or a concatenation: unresolved.
    }
  }

  static bool matches(const at::Tensor& expected, const at::Tensor& got) {
    return expected.sizes() == got.sizes() && at::equal(expected, got);
  }

  // `out` is the inputs stacked or concatenated along `dim`: for each index of the dims
  // before `dim`, one block of each input in turn.
  void interleave(int64_t dim, const std::vector<Item>& items, const at::Tensor& out) {
    if (!out.is_contiguous() || out.storage_offset() != 0) return;
    std::vector<ByteRuns> parts;
    for (const Item& item : items) {
      std::optional<ByteRuns> runs = resolve(item.tensor);
      if (!runs) return;
      parts.push_back(std::move(*runs));
    }
    ByteRuns composed;
    if (out.numel() > 0) {
      int64_t outer = 1;
      for (int64_t d = 0; d < dim; ++d) outer *= out.size(d);
      for (int64_t o = 0; o < outer; ++o)
        for (const ByteRuns& part : parts) {
          const uint64_t block = part.size() / static_cast<uint64_t>(outer);
          composed.append(part.slice(o * block, (o + 1) * block));
        }
    }
    if (composed.size() != nbytes_of(out)) return;
    storage_runs_[storage_id(out)] = std::move(composed);
  }

  StateDict& dict_;
  Direction direction_;
  const RunOptions& options_;
  const std::vector<const KeyTemplate*>& value_templates_;
  std::map<std::string, Lineage> lineage_;
  std::map<std::string, Item> live_;
  std::multimap<std::string, const Op*> dropped_;
  std::unordered_map<const void*, ByteRuns> storage_runs_;
  std::vector<at::Tensor> keep_;  // keeps every storage alive so no address is reused
  Lineage unknown_{{}, {}, true, false};
};

void collect_value_maps(const Op& op, Direction direction, std::vector<const KeyTemplate*>& out) {
  if (op.kind() == "map") {
    Footprint fp;
    op.footprint(direction, fp);
    out.insert(out.end(), fp.reads.begin(), fp.reads.end());
  }
  for (const Op* child : op.children()) collect_value_maps(*child, direction, out);
}

}  // namespace

bool GroupTrace::needs_values() const {
  for (const TracedOutput& out : outputs)
    if (out.computed || (!out.runs && !out.sources.empty())) return true;
  return false;
}

std::vector<const KeyTemplate*> value_map_templates(const Chain& chain, Direction direction) {
  std::vector<const KeyTemplate*> templates;
  for (const OpPtr& op : chain.ops) collect_value_maps(*op, direction, templates);
  return templates;
}

GroupTrace trace_group(const Chain& chain, Direction direction, const RunOptions& options,
                       const std::vector<const KeyTemplate*>& value_templates, StateDict& dict,
                       const std::map<std::string, ByteRun>& locations) {
  Tracker tracker(dict, direction, options, value_templates);
  for (const auto& [key, location] : locations) tracker.add_input(key, location);
  std::vector<Warning> warnings = chain.run(dict, direction, options, &tracker);
  return tracker.finish(std::move(warnings));
}

std::string layer_group_of(const std::string& key) {
  size_t pos = 0;
  while (true) {
    size_t end = key.find('.', pos);
    if (end == std::string::npos) return "";
    if (key.compare(pos, end - pos, "layers") == 0) {
      size_t next = key.find('.', end + 1);
      if (next == std::string::npos) return "";
      bool digits = next > end + 1;
      for (size_t i = end + 1; i < next; ++i) digits &= key[i] >= '0' && key[i] <= '9';
      if (digits) return key.substr(0, next + 1);
    }
    pos = end + 1;
  }
}

}  // namespace chainconv
