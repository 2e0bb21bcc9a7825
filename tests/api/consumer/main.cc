// A trainer exporting one layer of an expert-parallel shard to HF names, linked against the
// installed chainconv. Prints the chains directory it found and "ok", or why not.
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <chainconv/chainconv.h>

#include <filesystem>
#include <iostream>

namespace cc = chainconv::api;

static int fail(const std::string& why) {
  std::cerr << "consumer: " << why << "\n";
  return 1;
}

int main() try {
  std::cout << "chains: " << cc::default_chains_dir() << "\n";
  std::error_code ec;
  if (!std::filesystem::equivalent(cc::default_chains_dir(), CHAINCONV_PACKAGE_CHAINS_DIR, ec))
    return fail("the library does not find the installed chains " CHAINCONV_PACKAGE_CHAINS_DIR);

  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  // Layer 5 of rank 1, which holds experts 2 and 3: w1 is [2 experts, I=2, H=3].
  const std::string p = "model.layers.5.mlp.";
  const at::Tensor w1 = at::arange(12.).reshape({2, 2, 3});
  cc::TensorMap layer{{p + "experts.w1", w1},
                      {p + "experts.w2", at::arange(12.).reshape({2, 3, 2})},
                      {p + "experts.w3", at::arange(12.).reshape({2, 2, 3})},
                      {p + "router.gate.weight", at::arange(12.).reshape({4, 3})}};
  cc::Options options;
  options.expert_offset = 2;
  chain.to_hf(layer, options);

  if (layer.size() != 7) return fail("expected 7 HF tensors, got " + std::to_string(layer.size()));
  auto it = layer.find(p + "experts.3.gate_proj.weight");
  if (it == layer.end()) return fail("no experts.3.gate_proj.weight");
  if (!at::equal(it->second, at::arange(6., 12.).reshape({2, 3})))
    return fail("experts.3.gate_proj.weight has the wrong values");
  if (!it->second.storage().is_alias_of(w1.storage()))
    return fail("experts.3.gate_proj.weight is a copy, not a view");
  if (!layer.count(p + "gate.weight")) return fail("the router gate was not renamed back");

  try {
    cc::Chain::from_string("version: 1\nmodel_types: [x]\ndescription: x\nops:\n  - nope: {}\n",
                           "consumer.yaml");
    return fail("a bad chain loaded");
  } catch (const cc::Error& e) {
    if (e.pos().str() != "consumer.yaml:5:5")
      return fail("error position " + e.pos().str() + ": " + e.what());
  }
  std::cout << "ok\n";
  return 0;
} catch (const cc::Error& e) {
  return fail(e.what());
}
