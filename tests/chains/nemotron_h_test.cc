// nemotron_h, against docs/MODELS.md: backbone. <-> model., mtp.* dropped, embeddings / final norm
// renamed, and each layer's mixer. split by type: attention -> self_attn., MoE -> mlp.
// (gate-less experts up -> w1, down -> w2, a synthetic empty w3, the score correction bias
// shifted to min 0: declared lossy), otherwise mamba -> mamba.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

void move_prefix(StateDict& d, const std::string& from, const std::string& to) {
  for (const std::string& key : d.keys_with_prefix(from))
    move(d, key, to + key.substr(from.size()));
}

// The tiny config's pattern is "ME*": layer 0 mamba, 1 MoE, 2 attention.
StateDict nemotron_by_hand(StateDict d, int offset) {
  move_prefix(d, "backbone.", "model.");
  for (const std::string& key : d.keys_with_prefix("mtp.")) d.erase(key);
  if (d.contains("model.embeddings.weight"))
    move(d, "model.embeddings.weight", "model.embed_tokens.weight");
  if (d.contains("model.norm_f.weight")) move(d, "model.norm_f.weight", "model.norm.weight");
  move_prefix(d, "model.layers.0.mixer.", "model.layers.0.mamba.");
  move_prefix(d, "model.layers.2.mixer.", "model.layers.2.self_attn.");
  const std::string m = "model.layers.1.mixer.", p = "model.layers.1.mlp.";
  if (d.contains(m + "gate.weight")) move(d, m + "gate.weight", p + "router.gate");
  if (d.contains(m + "gate.e_score_correction_bias")) {
    Item bias = d.take(m + "gate.e_score_correction_bias");
    d.insert(p + "router.e_score_correction_bias", bias.tensor - bias.tensor.min());
  }
  if (d.contains(m + "experts.up_proj")) {
    move(d, m + "experts.up_proj", p + "experts.w1");
    move(d, m + "experts.down_proj", p + "experts.w2");
  } else {
    auto up = [&](int e) { return m + "experts." + std::to_string(e) + ".up_proj.weight"; };
    auto down = [&](int e) { return m + "experts." + std::to_string(e) + ".down_proj.weight"; };
    if (int n = count_from(d, up, offset)) {
      stack_into(d, up, offset, n, p + "experts.w1");
      stack_into(d, down, offset, n, p + "experts.w2");
    }
  }
  if (d.contains(p + "experts.w1"))
    d.insert(p + "experts.w3", at::empty({0}, d.at(p + "experts.w1").options()));
  move_prefix(d, m + "shared_experts.", p + "shared_expert.");
  return d;
}

// Backward emits backbone., leaves the bias shifted and cannot restore the dropped mtp heads.
StateDict nemotron_hf_after_roundtrip(StateDict d) {
  for (const std::string& key : d.keys_with_prefix("mtp.")) d.erase(key);
  const std::string bias = "backbone.layers.1.mixer.gate.e_score_correction_bias";
  if (d.contains(bias)) {
    at::Tensor b = d.take(bias).tensor;
    d.insert(bias, b - b.min());
  }
  return d;
}

const ModelCase kNemotron{"nemotron_h", nemotron_by_hand, nemotron_hf_after_roundtrip};

}  // namespace

TEST_CASE("nemotron_h HF to prime dispatches mamba attention and MoE layers") {
  StateDict hf = tiny_hf("nemotron_h");
  REQUIRE(hf.contains("backbone.layers.0.mixer.in_proj.weight"));
  REQUIRE(hf.contains("backbone.layers.1.mixer.experts.3.up_proj.weight"));
  REQUIRE(hf.contains("backbone.layers.2.mixer.q_proj.weight"));
  REQUIRE(hf.contains("mtp.layers.0.eh_proj.weight"));
  check_forward(kNemotron, ExpertLayout::per_expert);
  check_forward(kNemotron, ExpertLayout::fused);

  auto chain = model_chain("nemotron_h");
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  CHECK(prime.contains("model.layers.0.mamba.A_log"));
  CHECK(prime.contains("model.layers.0.norm.weight"));
  CHECK(prime.contains("model.layers.1.mlp.shared_expert.up_proj.weight"));
  CHECK(prime.contains("model.layers.2.self_attn.o_proj.weight"));
  CHECK(prime.keys_with_prefix("mtp.").empty());
  CHECK(prime.keys_with_prefix("backbone.").empty());
}

TEST_CASE("nemotron_h prime to HF and both roundtrips") {
  check_backward_and_roundtrips(kNemotron);
}

TEST_CASE("nemotron_h single layer and expert-parallel shard") {
  check_single_layer(kNemotron, "backbone.layers.1.");
  check_single_layer(kNemotron, "backbone.layers.0.");
  check_shard(kNemotron, "backbone.layers.1.", "backbone.layers.1.mixer.experts.");
}

TEST_CASE("nemotron_h accepts model. prefixed HF and emits backbone.") {
  auto chain = model_chain("nemotron_h");
  StateDict backbone = tiny_hf("nemotron_h");
  StateDict model;
  for (const auto& [key, item] : backbone)
    model.insert(starts_with(key, "backbone.") ? "model." + key.substr(9) : key, item);
  StateDict prime = convert(*chain, model, Direction::to_prime);
  require_identical(prime, nemotron_by_hand(clone(backbone), 0));
  require_identical(convert(*chain, prime, Direction::to_hf),
                    nemotron_hf_after_roundtrip(clone(backbone)));
}

TEST_CASE("nemotron_h shifts the score correction bias exactly in f32 and bf16 and not back") {
  auto chain = model_chain("nemotron_h");
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    INFO(c10::toString(dtype));
    const std::string hf_key = "backbone.layers.1.mixer.gate.e_score_correction_bias";
    const std::string prime_key = "model.layers.1.mlp.router.e_score_correction_bias";
    StateDict hf{{"backbone.layers.1.mixer.gate.weight", counting({4, 2})},
                 {hf_key, at::tensor({3.5, -1.25, 0.0, 8.0}).to(dtype)}};
    StateDict prime = convert(*chain, hf, Direction::to_prime);
    // x - min(x) = x + 1.25, every value exact in both dtypes.
    REQUIRE(prime.at(prime_key).scalar_type() == dtype);
    CHECK(at::equal(prime.at(prime_key), at::tensor({4.75, 0.0, 1.25, 9.25}).to(dtype)));
    StateDict back = convert(*chain, prime, Direction::to_hf);
    CHECK(at::equal(back.at(hf_key), at::tensor({4.75, 0.0, 1.25, 9.25}).to(dtype)));
  }
  // The step is declared lossy in the chain.
  bool declared = false;
  std::function<void(const Op&)> visit = [&](const Op& op) {
    declared |= op.kind() == "map" && !op.lossy().empty();
    for (const Op* child : op.children()) visit(*child);
  };
  for (const OpPtr& op : chain->ops) visit(*op);
  CHECK(declared);
}

TEST_CASE("nemotron_h synthesises an empty w3 and drops it on the way back") {
  auto chain = model_chain("nemotron_h");
  StateDict hf{
      {"model.layers.3.mixer.gate.weight", counting({2, 2})},
      {"model.layers.3.mixer.experts.0.up_proj.weight", counting({3, 2}, 0, at::kBFloat16)},
      {"model.layers.3.mixer.experts.1.up_proj.weight", counting({3, 2}, 10, at::kBFloat16)},
      {"model.layers.3.mixer.experts.0.down_proj.weight", counting({2, 3}, 20, at::kBFloat16)},
      {"model.layers.3.mixer.experts.1.down_proj.weight", counting({2, 3}, 30, at::kBFloat16)}};
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  const at::Tensor& w3 = prime.at("model.layers.3.mlp.experts.w3");
  CHECK(w3.sizes() == at::IntArrayRef{0});
  CHECK(w3.scalar_type() == at::kBFloat16);
  CHECK(w3.device() == prime.at("model.layers.3.mlp.experts.w1").device());
  CHECK(at::equal(
      prime.at("model.layers.3.mlp.experts.w1"),
      at::stack({counting({3, 2}, 0, at::kBFloat16), counting({3, 2}, 10, at::kBFloat16)})));
  StateDict back = convert(*chain, prime, Direction::to_hf);
  require_identical(back, [&] {
    StateDict expected;
    for (const auto& [key, item] : hf) expected.insert("backbone." + key.substr(6), item);
    return expected;
  }());
}

TEST_CASE("nemotron_h drops mtp heads") {
  auto chain = model_chain("nemotron_h");
  StateDict hf{{"mtp.layers.0.eh_proj.weight", counting({2, 4})},
               {"mtp.norm.weight", counting({2})},
               {"backbone.norm_f.weight", counting({2}, 7)}};
  require_identical(convert(*chain, hf, Direction::to_prime),
                    StateDict{{"model.norm.weight", counting({2}, 7)}});
}

TEST_CASE("nemotron_h converts an experts-only shard without its router") {
  auto chain = model_chain("nemotron_h");
  StateDict hf = subset(tiny_hf("nemotron_h"), [](const std::string& k) {
    return starts_with(k, "backbone.layers.1.mixer.experts.2.") ||
           starts_with(k, "backbone.layers.1.mixer.experts.3.");
  });
  REQUIRE(hf.size() == 4);
  Options shard;
  shard.expert_offset = 2;
  StateDict prime = convert(*chain, hf, Direction::to_prime, shard);
  require_identical(prime, nemotron_by_hand(clone(hf), 2));
  require_identical(convert(*chain, prime, Direction::to_hf, shard), hf);
}
