// qwen3_5_moe (VLM) and qwen3_5_moe_text, against docs/MODELS.md: the same per-layer rules under
// model.layers.L and model.language_model.layers.L (prefix kept); the shared expert and its
// gate leave mlp. keeping .weight; model.visual.*, mtp.* and linear attention pass through.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict qwen3_5_by_hand(StateDict d, int offset) {
  for (const std::string prefix : {"model.layers.", "model.language_model.layers."}) {
    for (int layer = 0; layer < 8; ++layer) {
      std::string l = layer_key(layer, "", prefix);  // "...layers.L."
      if (d.contains(l + "mlp.gate.weight"))
        move(d, l + "mlp.gate.weight", l + "mlp.router.gate.weight");
      routed_experts_by_hand(d, l + "mlp", offset);
      const char* projections[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};
      for (auto& [hf, prime] : projections)
        if (d.contains(l + "mlp.shared_expert." + hf + ".weight"))
          move(d, l + "mlp.shared_expert." + hf + ".weight",
               l + "shared_expert." + prime + ".weight");
      if (d.contains(l + "mlp.shared_expert_gate.weight"))
        move(d, l + "mlp.shared_expert_gate.weight", l + "shared_expert_gate.weight");
    }
  }
  return d;
}

// Backward writes fused routed experts by default (hf_experts: fused, as published): every
// MoE layer's per-expert experts come back fused; the mtp layers' experts are untouched.
StateDict fused_by_hand(StateDict d) {
  for (const std::string prefix : {"model.layers.", "model.language_model.layers."})
    for (int layer = 0; layer < 8; ++layer) fuse_by_hand(d, layer_key(layer, "mlp", prefix));
  return d;
}

Options per_expert() {
  Options o;
  o.params["hf_experts"] = "per_expert";
  return o;
}

const ModelCase kVlm{"qwen3_5_moe", qwen3_5_by_hand, fused_by_hand};
const ModelCase kText{"qwen3_5_moe_text", qwen3_5_by_hand, fused_by_hand};
const ModelCase kVlmPerExpert{"qwen3_5_moe", qwen3_5_by_hand, [](StateDict hf) { return hf; },
                              per_expert()};
const ModelCase kTextPerExpert{"qwen3_5_moe_text", qwen3_5_by_hand, [](StateDict hf) { return hf; },
                               per_expert()};

}  // namespace

TEST_CASE("qwen3_5_moe VLM HF to prime with per-expert and with fused experts") {
  StateDict hf = tiny_hf("qwen3_5_moe");
  REQUIRE(hf.contains("model.language_model.layers.0.mlp.gate_proj.weight"));  // dense layer
  REQUIRE(hf.contains("model.language_model.layers.1.linear_attn.in_proj_qkv.weight"));
  REQUIRE(hf.contains("mtp.layers.0.mlp.experts.3.up_proj.weight"));
  REQUIRE(hf.contains("model.visual.blocks.0.mlp.linear_fc1.weight"));
  check_forward(kVlm, ExpertLayout::per_expert);
  check_forward(kVlm, ExpertLayout::fused);

  // The VLM prefix stays on the prime side; mtp experts and the vision tower are untouched.
  auto chain = model_chain("qwen3_5_moe");
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  CHECK(prime.contains("model.language_model.layers.1.mlp.experts.w1"));
  CHECK(prime.contains("model.language_model.layers.1.shared_expert.w2.weight"));
  CHECK(prime.contains("model.language_model.layers.1.shared_expert_gate.weight"));
  for (const std::string& key : hf.keys())
    if (starts_with(key, "mtp.") || starts_with(key, "model.visual.") ||
        key.find(".linear_attn.") != std::string::npos) {
      INFO(key);
      REQUIRE(prime.contains(key));
      REQUIRE(at::equal(prime.at(key), hf.at(key)));
    }
}

TEST_CASE("qwen3_5_moe_text HF to prime with per-expert and with fused experts") {
  StateDict hf = tiny_hf("qwen3_5_moe_text");
  REQUIRE(hf.contains("model.layers.1.mlp.shared_expert_gate.weight"));
  REQUIRE(hf.keys_with_prefix("model.language_model.").empty());
  check_forward(kText, ExpertLayout::per_expert);
  check_forward(kText, ExpertLayout::fused);
}

TEST_CASE("qwen3_5_moe prime to HF (fused by default, per-expert when asked) and roundtrips") {
  check_backward_and_roundtrips(kVlm);
  check_backward_and_roundtrips(kText);
  check_backward_and_roundtrips(kVlmPerExpert);
  check_backward_and_roundtrips(kTextPerExpert);
}

TEST_CASE(
    "qwen3_5_moe published fused HF -> prime -> fused HF gives back the same keys and values") {
  auto chain = model_chain("qwen3_5_moe");
  for (const std::string type : {"qwen3_5_moe", "qwen3_5_moe_text"}) {
    StateDict hf = tiny_hf(type, ExpertLayout::fused);
    const std::string x = type == "qwen3_5_moe" ? "model.language_model.layers.1.mlp.experts."
                                                : "model.layers.1.mlp.experts.";
    REQUIRE(hf.contains(x + "gate_up_proj"));
    REQUIRE(!hf.contains(x + "gate_up_proj.weight"));
    REQUIRE(hf.keys_with_prefix(x + "0.").empty());
    StateDict prime = convert(*chain, hf, Direction::to_prime);
    require_identical(convert(*chain, prime, Direction::to_hf), hf);
    // hf_experts=per_expert: the same prime dict comes back per expert.
    StateDict unfused = clone(hf);
    for (int layer = 0; layer < 8; ++layer)
      for (const std::string prefix : {"model.layers.", "model.language_model.layers."})
        unfuse_by_hand(unfused, layer_key(layer, "mlp", prefix));
    REQUIRE(!unfused.keys_with_prefix(x + "0.").empty());
    require_identical(convert(*chain, prime, Direction::to_hf, per_expert()), unfused);
  }
}

TEST_CASE("qwen3_5_moe single layer and expert-parallel shard") {
  check_single_layer(kVlm, "model.language_model.layers.3.");
  check_single_layer(kText, "model.layers.2.");
  check_single_layer(kVlmPerExpert, "model.language_model.layers.3.");
  // A shard converts with per_expert: a fused tensor has no place for the expert offset.
  check_shard(kVlmPerExpert, "model.language_model.layers.1.",
              "model.language_model.layers.1.mlp.experts.");
  check_shard(kTextPerExpert, "model.layers.3.", "model.layers.3.mlp.experts.");
}
