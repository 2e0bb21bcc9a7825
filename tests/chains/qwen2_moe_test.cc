// qwen2_moe, against docs/MODELS.md: per MoE layer the router gate moves under mlp.router, the
// routed experts stack into w1 (gate), w2 (down), w3 (up) from either HF layout, and the shared
// expert and its gate leave mlp. for the layer, keeping .weight. Dense layers, attention with
// its q/k/v biases, norms and embeddings pass through.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict qwen2_moe_by_hand(StateDict d, int offset) {
  const char* shared[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};
  for (int layer = 0; layer < 8; ++layer) {
    std::string l = layer_key(layer, "");
    if (d.contains(l + "mlp.gate.weight"))
      move(d, l + "mlp.gate.weight", l + "mlp.router.gate.weight");
    routed_experts_by_hand(d, l + "mlp", offset);
    for (auto& [hf, prime] : shared)
      if (d.contains(l + "mlp.shared_expert." + hf + ".weight"))
        move(d, l + "mlp.shared_expert." + hf + ".weight",
             l + "shared_expert." + prime + ".weight");
    if (d.contains(l + "mlp.shared_expert_gate.weight"))
      move(d, l + "mlp.shared_expert_gate.weight", l + "shared_expert_gate.weight");
  }
  return d;
}

// Fused experts come back per-expert (the canonical layout).
StateDict canonical(StateDict d) {
  for (int layer = 0; layer < 8; ++layer) unfuse_by_hand(d, layer_key(layer, "mlp"));
  return d;
}

const ModelCase kQwen2{"qwen2_moe", qwen2_moe_by_hand};

}  // namespace

TEST_CASE("qwen2_moe HF to prime with per-expert and with fused experts") {
  // The tiny config mixes a dense layer 0 with MoE layers 1 and 2.
  StateDict hf = tiny_hf("qwen2_moe");
  REQUIRE(hf.contains("model.layers.0.mlp.gate_proj.weight"));
  REQUIRE(hf.contains("model.layers.2.mlp.experts.3.up_proj.weight"));
  REQUIRE(hf.contains("model.layers.2.mlp.shared_expert_gate.weight"));
  check_forward(kQwen2, ExpertLayout::per_expert);
  check_forward(kQwen2, ExpertLayout::fused);
}

TEST_CASE("qwen2_moe prime to HF and both roundtrips") {
  check_backward_and_roundtrips(kQwen2);
  // Fused in, canonical per-expert out.
  auto chain = model_chain("qwen2_moe");
  StateDict fused = tiny_hf("qwen2_moe", ExpertLayout::fused);
  REQUIRE(fused.contains("model.layers.1.mlp.experts.gate_up_proj"));
  require_identical(convert(*chain, convert(*chain, fused, Direction::to_prime), Direction::to_hf),
                    canonical(clone(fused)));
}

TEST_CASE("qwen2_moe single layer and expert-parallel shard") {
  check_single_layer(kQwen2, "model.layers.2.");
  check_shard(kQwen2, "model.layers.1.", "model.layers.1.mlp.experts.");
}

TEST_CASE("qwen2_moe shared expert leaves mlp. keeping .weight, with its gate") {
  auto chain = model_chain("qwen2_moe");
  const int S = 3, H = 2;
  const std::string l = "model.layers.6.";
  StateDict hf{{l + "mlp.shared_expert.gate_proj.weight", counting({S, H})},
               {l + "mlp.shared_expert.down_proj.weight", counting({H, S}, 10)},
               {l + "mlp.shared_expert.up_proj.weight", counting({S, H}, 20)},
               {l + "mlp.shared_expert_gate.weight", counting({1, H}, 30)},
               {l + "self_attn.q_proj.bias", counting({4}, 40)},
               {l + "self_attn.k_proj.bias", counting({2}, 50)},
               {l + "self_attn.v_proj.bias", counting({2}, 60)}};
  StateDict expected{{l + "shared_expert.w1.weight", counting({S, H})},
                     {l + "shared_expert.w2.weight", counting({H, S}, 10)},
                     {l + "shared_expert.w3.weight", counting({S, H}, 20)},
                     {l + "shared_expert_gate.weight", counting({1, H}, 30)},
                     {l + "self_attn.q_proj.bias", counting({4}, 40)},
                     {l + "self_attn.k_proj.bias", counting({2}, 50)},
                     {l + "self_attn.v_proj.bias", counting({2}, 60)}};
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  require_identical(prime, expected);
  require_identical(convert(*chain, prime, Direction::to_hf), hf);
  // The plural GLM spelling is not Qwen2-MoE's: it passes through.
  StateDict plural{{l + "mlp.shared_experts.gate_proj.weight", counting({S, H})}};
  require_identical(convert(*chain, plural, Direction::to_prime), plural);
}
