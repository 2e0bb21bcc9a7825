// Helpers for the per-model chain tests: the registered chain of a model type, its tiny
// synthetic checkpoint, and the hand-applied docs/MODELS.md moves the expected outputs are built
// from (plain C++ on the dict, independent of the chain under test).
#pragma once

#include <functional>

#include "aten/layout_dicts.h"
#include "core/key_ranges.h"
#include "layout/layout.h"
#include "registry/chain_registry.h"
#include "support/support.h"

namespace chainconv::testing {

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

inline const std::string& chains_dir() {
  static const std::string dir = CHAINCONV_SOURCE_DIR "/chains";
  return dir;
}

inline std::unique_ptr<Chain> model_chain(const std::string& model_type) {
  return load_chain_file(ChainRegistry::scan(chains_dir()).chain_for(model_type));
}

inline Layout tiny_layout(const std::string& model_type,
                          ExpertLayout experts = ExpertLayout::per_expert) {
  return make_layout(tiny_config(model_type, chains_dir()), experts, chains_dir());
}

inline StateDict tiny_hf(const std::string& model_type,
                         ExpertLayout experts = ExpertLayout::per_expert, uint64_t seed = 7) {
  return synthetic_state_dict(tiny_layout(model_type, experts), seed);
}

inline std::string layer_key(int layer, const std::string& rest,
                             const std::string& prefix = "model.layers.") {
  return prefix + std::to_string(layer) + "." + rest;
}

// docs/MODELS.md moves, applied by hand.
inline void move(StateDict& d, const std::string& from, const std::string& to) {
  d.insert(to, d.take(from));
}

// Stacks keys fmt(first) .. fmt(first + n - 1) into `to` along dim 0 (the prime expert stack).
inline void stack_into(StateDict& d, const std::function<std::string(int)>& fmt, int first, int n,
                       const std::string& to) {
  std::vector<at::Tensor> rows;
  std::string opaque;
  for (int e = first; e < first + n; ++e) {
    Item item = d.take(fmt(e));
    opaque = item.opaque_dtype;
    rows.push_back(item.tensor);
  }
  d.insert(to, Item{at::stack(rows), opaque});
}

// Unstacks `from` (dim 0) into fmt(first + r).
inline void unstack_into(StateDict& d, const std::string& from,
                         const std::function<std::string(int)>& fmt, int first) {
  Item item = d.take(from);
  for (int64_t r = 0; r < item.tensor.size(0); ++r)
    d.insert(fmt(first + static_cast<int>(r)), Item{item.tensor[r], item.opaque_dtype});
}

// Every key present in both, with equal dtype (opaque name included), shape and bytes.
inline void require_identical(const StateDict& actual, const StateDict& expected) {
  std::vector<std::string> missing, extra;
  for (const auto& key : expected.keys())
    if (!actual.contains(key)) missing.push_back(key);
  for (const auto& key : actual.keys())
    if (!expected.contains(key)) extra.push_back(key);
  INFO("missing from the result: " << compress_keys_str(missing));
  INFO("unexpected in the result: " << compress_keys_str(extra));
  REQUIRE(missing.empty());
  REQUIRE(extra.empty());
  for (const auto& [key, e] : expected) {
    INFO("key " << key);
    const Item& a = actual.item(key);
    REQUIRE(a.opaque_dtype == e.opaque_dtype);
    REQUIRE(a.tensor.scalar_type() == e.tensor.scalar_type());
    REQUIRE(a.tensor.sizes() == e.tensor.sizes());
    if (!a.tensor.is_meta()) REQUIRE(at::equal(a.tensor, e.tensor));
  }
}

// Runs `chain` on a copy of `input` and returns the result (the input is left as it was).
inline StateDict convert(const Chain& chain, const StateDict& input, Direction direction,
                         const Options& options = {}, std::vector<Warning>* warnings = nullptr) {
  StateDict dict = clone(input);
  auto found = run_chain(chain, dict, direction, options);
  if (warnings)
    *warnings = found;
  else {
    std::string all;
    for (const Warning& w : found) all += w.str() + "\n";
    INFO(all);
    REQUIRE(found.empty());
  }
  return dict;
}

// The keys of `dict` under `prefix` (for partial dicts: one layer, one shard).
inline StateDict subset(const StateDict& dict,
                        const std::function<bool(const std::string&)>& keep) {
  StateDict out;
  for (const auto& [key, item] : dict)
    if (keep(key)) out.insert(key, item);
  return out;
}

// The number of consecutive indices e = first, first + 1, ... for which fmt(e) is present.
inline int count_from(const StateDict& d, const std::function<std::string(int)>& fmt, int first) {
  int n = 0;
  while (d.contains(fmt(first + n))) ++n;
  return n;
}

// docs/MODELS.md's routed experts under `mlp` (e.g. "model.layers.1.mlp"), by hand: fused
// gate_up_proj [E, 2I, H] -> w1 = first half, w3 = second half of dim 1, down_proj -> w2;
// or per-expert {gate,down,up}_proj.weight from `offset` stacked into w1, w2, w3.
inline void routed_experts_by_hand(StateDict& d, const std::string& mlp, int offset) {
  const std::string x = mlp + ".experts.";
  if (d.contains(x + "gate_up_proj")) {
    Item gate_up = d.take(x + "gate_up_proj");
    int64_t i = gate_up.tensor.size(1) / 2;
    d.insert(x + "w1", Item{gate_up.tensor.narrow(1, 0, i), gate_up.opaque_dtype});
    d.insert(x + "w3", Item{gate_up.tensor.narrow(1, i, i), gate_up.opaque_dtype});
    move(d, x + "down_proj", x + "w2");
    return;
  }
  auto key = [&](const char* proj) {
    return [=](int e) { return x + std::to_string(e) + "." + proj + ".weight"; };
  };
  int n = count_from(d, key("gate_proj"), offset);
  if (n == 0) return;
  stack_into(d, key("gate_proj"), offset, n, x + "w1");
  stack_into(d, key("down_proj"), offset, n, x + "w2");
  stack_into(d, key("up_proj"), offset, n, x + "w3");
}

// The canonical (per-expert) HF form of fused experts under `mlp`, by hand.
inline void unfuse_by_hand(StateDict& d, const std::string& mlp) {
  const std::string x = mlp + ".experts.";
  if (!d.contains(x + "gate_up_proj")) return;
  Item gate_up = d.take(x + "gate_up_proj"), down = d.take(x + "down_proj");
  int64_t i = gate_up.tensor.size(1) / 2;
  for (int64_t e = 0; e < gate_up.tensor.size(0); ++e) {
    std::string p = x + std::to_string(e) + ".";
    d.insert(p + "gate_proj.weight", gate_up.tensor[e].narrow(0, 0, i));
    d.insert(p + "up_proj.weight", gate_up.tensor[e].narrow(0, i, i));
    d.insert(p + "down_proj.weight", down.tensor[e]);
  }
}

// The fused HF form of per-expert experts under `mlp`, by hand: gate_up_proj [E, 2I, H] is
// every expert's gate rows then its up rows (stacked gates and ups concatenated on dim 1),
// down_proj [E, H, I] the stacked downs.
inline void fuse_by_hand(StateDict& d, const std::string& mlp) {
  const std::string x = mlp + ".experts.";
  auto key = [&](const char* proj) {
    return [=](int e) { return x + std::to_string(e) + "." + proj + ".weight"; };
  };
  const int n = count_from(d, key("gate_proj"), 0);
  if (n == 0) return;
  std::vector<at::Tensor> gate, up, down;
  for (int e = 0; e < n; ++e) {
    gate.push_back(d.take(key("gate_proj")(e)).tensor);
    up.push_back(d.take(key("up_proj")(e)).tensor);
    down.push_back(d.take(key("down_proj")(e)).tensor);
  }
  d.insert(x + "gate_up_proj", at::cat({at::stack(gate), at::stack(up)}, 1));
  d.insert(x + "down_proj", at::stack(down));
}

// A model's expectations, written by hand from docs/MODELS.md in its test file.
struct ModelCase {
  std::string model_type;
  // HF -> prime by hand, for per-expert experts numbered from `offset` (or fused ones).
  std::function<StateDict(StateDict hf, int offset)> to_prime;
  // What prime -> HF gives back for the prime dict to_prime(hf): hf itself for canonical
  // models; models with lossy or canonicalising steps say what changes.
  std::function<StateDict(StateDict hf)> hf_after_roundtrip = [](StateDict hf) { return hf; };
  // The options of every conversion (the chain's parameters, e.g. hf_experts).
  Options options = {};
};

// HF -> prime on the tiny checkpoint, in the given expert layout, against the hand-built dict.
inline void check_forward(const ModelCase& m, ExpertLayout experts) {
  auto chain = model_chain(m.model_type);
  StateDict hf = tiny_hf(m.model_type, experts);
  require_identical(convert(*chain, hf, Direction::to_prime, m.options), m.to_prime(clone(hf), 0));
}

// prime -> HF from the hand-built prime dict, and both roundtrips.
inline void check_backward_and_roundtrips(const ModelCase& m) {
  auto chain = model_chain(m.model_type);
  StateDict hf = tiny_hf(m.model_type);
  StateDict prime = m.to_prime(clone(hf), 0);
  StateDict expected_hf = m.hf_after_roundtrip(clone(hf));
  require_identical(convert(*chain, prime, Direction::to_hf, m.options), expected_hf);
  // HF -> prime -> HF
  require_identical(convert(*chain, convert(*chain, hf, Direction::to_prime, m.options),
                            Direction::to_hf, m.options),
                    expected_hf);
  // prime -> HF -> prime
  require_identical(convert(*chain, convert(*chain, prime, Direction::to_hf, m.options),
                            Direction::to_prime, m.options),
                    prime);
}

// One layer alone converts exactly like the same keys inside the full model.
inline void check_single_layer(const ModelCase& m, const std::string& layer_prefix) {
  auto chain = model_chain(m.model_type);
  StateDict layer = subset(tiny_hf(m.model_type),
                           [&](const std::string& k) { return starts_with(k, layer_prefix); });
  REQUIRE(layer.size() > 0);
  StateDict prime = convert(*chain, layer, Direction::to_prime, m.options);
  require_identical(prime, m.to_prime(clone(layer), 0));
  require_identical(convert(*chain, prime, Direction::to_hf, m.options),
                    m.hf_after_roundtrip(clone(layer)));
}

// An expert-parallel shard: one MoE layer holding global experts 2 and 3 of 4 (and the
// layer's other keys), converted with expert offset 2 in both directions.
inline void check_shard(const ModelCase& m, const std::string& layer_prefix,
                        const std::string& experts_prefix) {
  auto chain = model_chain(m.model_type);
  auto in_shard = [&](const std::string& k) {
    if (!starts_with(k, layer_prefix)) return false;
    if (!starts_with(k, experts_prefix)) return true;
    std::string rest = k.substr(experts_prefix.size());
    return !std::isdigit(static_cast<unsigned char>(rest[0])) || starts_with(rest, "2.") ||
           starts_with(rest, "3.");
  };
  StateDict shard = subset(tiny_hf(m.model_type), in_shard);
  REQUIRE(!shard.keys_with_prefix(experts_prefix + "3.").empty());
  REQUIRE(shard.keys_with_prefix(experts_prefix + "0.").empty());
  Options shard_options = m.options;
  shard_options.expert_offset = 2;
  StateDict expected_prime = m.to_prime(clone(shard), 2);
  StateDict prime = convert(*chain, shard, Direction::to_prime, shard_options);
  require_identical(prime, expected_prime);
  require_identical(convert(*chain, expected_prime, Direction::to_hf, shard_options),
                    m.hf_after_roundtrip(clone(shard)));
}

}  // namespace chainconv::testing
