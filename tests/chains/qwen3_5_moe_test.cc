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

const ModelCase kVlm{"qwen3_5_moe", qwen3_5_by_hand};
const ModelCase kText{"qwen3_5_moe_text", qwen3_5_by_hand};

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

TEST_CASE("qwen3_5_moe prime to HF and both roundtrips for VLM and text") {
  check_backward_and_roundtrips(kVlm);
  check_backward_and_roundtrips(kText);
}

TEST_CASE("qwen3_5_moe single layer and expert-parallel shard") {
  check_single_layer(kVlm, "model.language_model.layers.3.");
  check_single_layer(kText, "model.layers.2.");
  check_shard(kVlm, "model.language_model.layers.1.", "model.language_model.layers.1.mlp.experts.");
  check_shard(kText, "model.layers.3.", "model.layers.3.mlp.experts.");
}
