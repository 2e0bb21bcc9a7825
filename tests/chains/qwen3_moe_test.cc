// qwen3_moe, against docs/MODELS.md: per MoE layer the router gate moves under mlp.router and the
// routed experts stack into w1 (gate), w2 (down), w3 (up); everything else passes through.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict qwen3_moe_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string mlp = layer_key(layer, "mlp");
    if (d.contains(mlp + ".gate.weight"))
      move(d, mlp + ".gate.weight", mlp + ".router.gate.weight");
    routed_experts_by_hand(d, mlp, offset);
  }
  return d;
}

// Fused experts come back per-expert (the canonical layout).
StateDict canonical(StateDict d) {
  for (int layer = 0; layer < 8; ++layer) unfuse_by_hand(d, layer_key(layer, "mlp"));
  return d;
}

const ModelCase kQwen3{"qwen3_moe", qwen3_moe_by_hand};

}  // namespace

TEST_CASE("qwen3_moe HF to prime with per-expert and with fused experts") {
  // The tiny config mixes a dense layer 0 with MoE layers 1 and 2.
  StateDict hf = tiny_hf("qwen3_moe");
  REQUIRE(hf.contains("model.layers.0.mlp.gate_proj.weight"));
  REQUIRE(hf.contains("model.layers.2.mlp.experts.3.up_proj.weight"));
  check_forward(kQwen3, ExpertLayout::per_expert);
  check_forward(kQwen3, ExpertLayout::fused);
}

TEST_CASE("qwen3_moe prime to HF and both roundtrips") {
  check_backward_and_roundtrips(kQwen3);
  // Fused in, canonical per-expert out.
  auto chain = model_chain("qwen3_moe");
  StateDict fused = tiny_hf("qwen3_moe", ExpertLayout::fused);
  require_identical(convert(*chain, convert(*chain, fused, Direction::to_prime), Direction::to_hf),
                    canonical(clone(fused)));
}

TEST_CASE("qwen3_moe single layer and expert-parallel shard") {
  check_single_layer(kQwen3, "model.layers.2.");
  check_shard(kQwen3, "model.layers.1.", "model.layers.1.mlp.experts.");
}

TEST_CASE("qwen3_moe router and experts convert independently and prime buffers pass") {
  auto chain = model_chain("qwen3_moe");
  const int E = 2, I = 2, H = 3;
  StateDict hf;
  for (int e = 0; e < E; ++e) {
    std::string x = "model.layers.5.mlp.experts." + std::to_string(e) + ".";
    hf.insert(x + "gate_proj.weight", counting({I, H}, 100 * e));
    hf.insert(x + "down_proj.weight", counting({H, I}, 100 * e + 10));
    hf.insert(x + "up_proj.weight", counting({I, H}, 100 * e + 20));
  }
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  StateDict expected{
      {"model.layers.5.mlp.experts.w1", at::stack({counting({I, H}, 0), counting({I, H}, 100)})},
      {"model.layers.5.mlp.experts.w2", at::stack({counting({H, I}, 10), counting({H, I}, 110)})},
      {"model.layers.5.mlp.experts.w3", at::stack({counting({I, H}, 20), counting({I, H}, 120)})}};
  require_identical(prime, expected);

  StateDict buffers{{"model.layers.5.mlp.tokens_per_expert", counting({E})},
                    {"model.layers.5.mlp.expert_bias", counting({E}, 5)},
                    {"model.layers.5.mlp.router.gate.weight", counting({E, H}, 9)}};
  StateDict back = convert(*chain, buffers, Direction::to_hf);
  require_identical(back, StateDict{{"model.layers.5.mlp.tokens_per_expert", counting({E})},
                                    {"model.layers.5.mlp.expert_bias", counting({E}, 5)},
                                    {"model.layers.5.mlp.gate.weight", counting({E, H}, 9)}});
}
