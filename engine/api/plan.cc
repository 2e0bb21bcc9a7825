// Chain::plan: the conversion run on meta tensors (shapes and dtypes, no data), with an
// Observer following each key from the inputs through every op that moved it.
#include <ATen/ops/empty.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "api/chain_impl.h"
#include "api/translate.h"

namespace chainconv::api {
namespace {

// Where a key in the dict being converted came from so far.
struct Provenance {
  std::vector<std::string> sources;
  std::vector<const Op*> ops;
};

template <class T>
void append_unique(std::vector<T>& to, const std::vector<T>& from) {
  for (const T& x : from)
    if (std::find(to.begin(), to.end(), x) == to.end()) to.push_back(x);
}

class ProvenanceTracker final : public Observer {
 public:
  explicit ProvenanceTracker(const StateDict& inputs) {
    for (const auto& [key, item] : inputs) keys_[key] = Provenance{{key}, {}};
  }

  void on_step(const Op& op, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs) override {
    Provenance merged;
    for (const std::string& input : inputs) {
      auto it = keys_.find(input);
      if (it == keys_.end()) continue;
      append_unique(merged.sources, it->second.sources);
      append_unique(merged.ops, it->second.ops);
      keys_.erase(it);  // consumed; an op that rewrites a key in place lists it as an output too
    }
    merged.ops.push_back(&op);
    for (const std::string& output : outputs) keys_[output] = merged;
  }

  const Provenance* find(const std::string& key) const {
    auto it = keys_.find(key);
    return it == keys_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Provenance> keys_;
};

}  // namespace

Plan make_plan(const chainconv::Chain& chain, const TensorMap& dict, Direction direction,
               const Options& options) {
  StateDict meta;
  for (const auto& [key, item] : engine_dict(dict))
    meta.insert(key,
                Item{at::empty(item.tensor.sizes(), item.tensor.options().device(at::kMeta)), {}});
  ProvenanceTracker tracker(meta);
  Plan plan;
  plan.warnings = public_warnings(
      chain.run(meta, engine_direction(direction), engine_options(options), &tracker));
  for (const std::string& key : meta.keys()) {
    const at::Tensor& t = meta.at(key);
    PlanEntry entry{key, t.sizes().vec(), t.scalar_type(), {key}, {}};
    if (const Provenance* p = tracker.find(key)) {
      entry.sources = p->sources;
      std::sort(entry.sources.begin(), entry.sources.end(),
                [](const auto& a, const auto& b) { return natural_less(a, b); });
      for (const Op* op : p->ops)
        entry.steps.push_back({std::string(op->kind()), public_position(op->pos())});
    }
    plan.entries.push_back(std::move(entry));
  }
  return plan;
}

const PlanEntry* Plan::find(const std::string& key) const {
  for (const PlanEntry& entry : entries)
    if (entry.key == key) return &entry;
  return nullptr;
}

std::string Plan::str() const {
  std::ostringstream out;
  for (const PlanEntry& e : entries) {
    out << e.key << " [";
    for (size_t i = 0; i < e.shape.size(); ++i) out << (i ? ", " : "") << e.shape[i];
    out << "] " << c10::toString(e.dtype);
    if (e.passes_through()) {
      out << " (unchanged)\n";
      continue;
    }
    out << " <-";
    for (size_t i = 0; i < e.sources.size(); ++i) out << (i ? ", " : " ") << e.sources[i];
    out << " via";
    for (size_t i = 0; i < e.steps.size(); ++i)
      out << (i ? "," : "") << " " << e.steps[i].op << " (" << e.steps[i].pos.str() << ")";
    out << "\n";
  }
  for (const Warning& w : warnings) out << w.str() << "\n";
  return out.str();
}

}  // namespace chainconv::api
