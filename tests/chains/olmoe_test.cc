// olmoe, against docs/MODELS.md: per layer the router gate moves under mlp.router and the
// per-expert gate / down / up projections stack into w1 / w2 / w3. Every layer is MoE, there
// is no fused layout, and the whole-projection q/k norms pass through.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict olmoe_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string mlp = layer_key(layer, "mlp");
    if (d.contains(mlp + ".gate.weight"))
      move(d, mlp + ".gate.weight", mlp + ".router.gate.weight");
    routed_experts_by_hand(d, mlp, offset);
  }
  return d;
}

const ModelCase kOlmoe{"olmoe", olmoe_by_hand};

}  // namespace

TEST_CASE("olmoe HF to prime: every layer is MoE, no fused layout") {
  StateDict hf = tiny_hf("olmoe");
  REQUIRE(hf.contains("model.layers.0.mlp.experts.3.up_proj.weight"));
  REQUIRE_FALSE(hf.contains("model.layers.0.mlp.gate_proj.weight"));
  check_forward(kOlmoe, ExpertLayout::per_expert);
  CHECK_FALSE(has_fused_layout("olmoe", chains_dir()));
}

TEST_CASE("olmoe prime to HF and both roundtrips") { check_backward_and_roundtrips(kOlmoe); }

TEST_CASE("olmoe single layer and expert-parallel shard") {
  check_single_layer(kOlmoe, "model.layers.1.");
  check_shard(kOlmoe, "model.layers.0.", "model.layers.0.mlp.experts.");
}

TEST_CASE("olmoe q/k norms over the whole projection pass through") {
  auto chain = model_chain("olmoe");
  StateDict hf = tiny_hf("olmoe");
  // hidden 8 = 2 heads x 4, 1 kv head: q_norm covers 8 values, k_norm 4.
  REQUIRE(hf.at("model.layers.1.self_attn.q_norm.weight").sizes() == at::IntArrayRef{8});
  REQUIRE(hf.at("model.layers.1.self_attn.k_norm.weight").sizes() == at::IntArrayRef{4});
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  for (const char* key : {"self_attn.q_norm.weight", "self_attn.k_norm.weight",
                          "self_attn.k_proj.weight", "input_layernorm.weight"}) {
    std::string k = layer_key(1, key);
    INFO(k);
    REQUIRE(prime.contains(k));
    CHECK(at::equal(prime.at(k), hf.at(k)));
  }
  // A fused-looking key is not OLMoE's: it passes through, both ways.
  StateDict fused{{"model.layers.0.mlp.experts.gate_up_proj", counting({4, 8, 8})}};
  require_identical(convert(*chain, fused, Direction::to_prime), fused);
}
