// glm4_moe and glm_moe_dsa (the same GLM MoE layer piece), against docs/MODELS.md: router, expert
// bias, routed and shared experts per MoE layer, the MTP layer model.layers.<num_hidden_layers>
// included; a prime [1, I, H] shared expert is squeezed on the way to HF; tokens_per_expert
// is dropped both ways.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict glm_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string mlp = layer_key(layer, "mlp.");
    if (d.contains(mlp + "gate.weight")) move(d, mlp + "gate.weight", mlp + "router.gate.weight");
    if (d.contains(mlp + "gate.e_score_correction_bias"))
      move(d, mlp + "gate.e_score_correction_bias", mlp + "expert_bias");
    routed_experts_by_hand(d, layer_key(layer, "mlp"), offset);
    const char* projections[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};
    for (auto& [hf, prime] : projections)
      if (d.contains(mlp + "shared_experts." + hf + ".weight"))
        move(d, mlp + "shared_experts." + hf + ".weight", mlp + "shared_expert." + prime);
    d.erase(mlp + "tokens_per_expert");
  }
  return d;
}

const ModelCase kGlm4{"glm4_moe", glm_by_hand};
const ModelCase kGlmDsa{"glm_moe_dsa", glm_by_hand};

}  // namespace

TEST_CASE("glm4_moe HF to prime with per-expert and with fused experts") {
  StateDict hf = tiny_hf("glm4_moe");
  REQUIRE(hf.contains("model.layers.0.mlp.gate_proj.weight"));  // first_k_dense_replace = 1
  REQUIRE(hf.contains("model.layers.1.mlp.experts.3.down_proj.weight"));
  check_forward(kGlm4, ExpertLayout::per_expert);
  check_forward(kGlm4, ExpertLayout::fused);
}

TEST_CASE("glm4_moe prime to HF and both roundtrips") { check_backward_and_roundtrips(kGlm4); }

TEST_CASE("glm4_moe single layer and expert-parallel shard") {
  check_single_layer(kGlm4, "model.layers.1.");
  check_shard(kGlm4, "model.layers.1.", "model.layers.1.mlp.experts.");
}

TEST_CASE("glm4_moe MTP layer converts like any MoE layer and keeps its extra keys") {
  // num_hidden_layers = 2: the MTP layer is model.layers.2.
  auto chain = model_chain("glm4_moe");
  StateDict mtp = subset(tiny_hf("glm4_moe"),
                         [](const std::string& k) { return starts_with(k, "model.layers.2."); });
  for (const char* extra :
       {"eh_proj.weight", "enorm.weight", "hnorm.weight", "shared_head.norm.weight",
        "shared_head.head.weight", "embed_tokens.weight"})
    REQUIRE(mtp.contains(std::string("model.layers.2.") + extra));
  StateDict prime = convert(*chain, mtp, Direction::to_prime);
  require_identical(prime, glm_by_hand(clone(mtp), 0));
  CHECK(prime.contains("model.layers.2.mlp.experts.w1"));
  CHECK(prime.contains("model.layers.2.mlp.shared_expert.w3"));
  CHECK(prime.contains("model.layers.2.eh_proj.weight"));
}

TEST_CASE("glm4_moe squeezes a leading-singleton shared expert and drops tokens_per_expert") {
  auto chain = model_chain("glm4_moe");
  const int I = 2, H = 3;
  StateDict prime{{"model.layers.4.mlp.shared_expert.w1", counting({1, I, H})},
                  {"model.layers.4.mlp.shared_expert.w2", counting({H, I}, 10)},
                  {"model.layers.4.mlp.shared_expert.w3", counting({1, I, H}, 20)},
                  {"model.layers.4.mlp.tokens_per_expert", counting({4})}};
  StateDict hf = convert(*chain, prime, Direction::to_hf);
  require_identical(
      hf, StateDict{{"model.layers.4.mlp.shared_experts.gate_proj.weight", counting({I, H})},
                    {"model.layers.4.mlp.shared_experts.down_proj.weight", counting({H, I}, 10)},
                    {"model.layers.4.mlp.shared_experts.up_proj.weight", counting({I, H}, 20)}});
  // Forward does not restore the singleton (canonicalising), and drops the buffer too.
  StateDict with_buffer = hf;
  with_buffer.insert("model.layers.4.mlp.tokens_per_expert", counting({4}));
  require_identical(convert(*chain, with_buffer, Direction::to_prime),
                    StateDict{{"model.layers.4.mlp.shared_expert.w1", counting({I, H})},
                              {"model.layers.4.mlp.shared_expert.w2", counting({H, I}, 10)},
                              {"model.layers.4.mlp.shared_expert.w3", counting({I, H}, 20)}});
}

TEST_CASE("glm_moe_dsa HF to prime with per-expert and with fused experts") {
  check_forward(kGlmDsa, ExpertLayout::per_expert);
  check_forward(kGlmDsa, ExpertLayout::fused);
  // MLA attention and the sparse indexer pass through.
  auto chain = model_chain("glm_moe_dsa");
  StateDict hf = tiny_hf("glm_moe_dsa");
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  for (const char* key : {"self_attn.q_a_proj.weight", "self_attn.kv_a_proj_with_mqa.weight",
                          "self_attn.kv_a_layernorm.weight", "self_attn.indexer.wq_b.weight",
                          "self_attn.indexer.k_norm.bias"}) {
    std::string k = layer_key(1, key);
    INFO(k);
    REQUIRE(prime.contains(k));
    CHECK(at::equal(prime.at(k), hf.at(k)));
  }
}

TEST_CASE("glm_moe_dsa prime to HF roundtrips single layer and shard") {
  check_backward_and_roundtrips(kGlmDsa);
  check_single_layer(kGlmDsa, "model.layers.3.");  // the MTP layer of the 3-layer tiny config
  check_shard(kGlmDsa, "model.layers.2.", "model.layers.2.mlp.experts.");
}
