// deepseek_v3, against docs/MODELS.md: the GLM MoE rules per MoE layer (router, expert bias,
// routed and shared experts, tokens_per_expert dropped), the MTP layer
// model.layers.<num_hidden_layers> included; dense layers and MLA attention pass through. The
// published FP8 weights move as bytes and each weight_scale_inv companion follows its weight:
// stacked with the routed experts into experts.w{1,2,3}_scale_inv, renamed with the shared
// experts to shared_expert.w{1,2,3}_scale_inv; every other companion passes through.
#include <fstream>

#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

const char* kProjections[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};

StateDict deepseek_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string mlp = layer_key(layer, "mlp.");
    if (d.contains(mlp + "gate.weight")) move(d, mlp + "gate.weight", mlp + "router.gate.weight");
    if (d.contains(mlp + "gate.e_score_correction_bias"))
      move(d, mlp + "gate.e_score_correction_bias", mlp + "expert_bias");
    routed_experts_by_hand(d, layer_key(layer, "mlp"), offset);
    for (auto& [hf, prime] : kProjections) {
      auto scale = [&, hf = hf](int e) {
        return mlp + "experts." + std::to_string(e) + "." + hf + ".weight_scale_inv";
      };
      if (int n = count_from(d, scale, offset))
        stack_into(d, scale, offset, n, mlp + "experts." + prime + "_scale_inv");
      std::string shared = mlp + "shared_experts." + hf;
      if (d.contains(shared + ".weight"))
        move(d, shared + ".weight", mlp + "shared_expert." + prime);
      if (d.contains(shared + ".weight_scale_inv"))
        move(d, shared + ".weight_scale_inv", mlp + "shared_expert." + prime + "_scale_inv");
    }
    d.erase(mlp + "tokens_per_expert");
  }
  return d;
}

const ModelCase kDeepSeek{"deepseek_v3", deepseek_by_hand};

StateDict layer_of(const StateDict& d, int layer) {
  const std::string prefix = layer_key(layer, "");
  return subset(d, [&](const std::string& k) { return starts_with(k, prefix); });
}

}  // namespace

TEST_CASE("deepseek_v3 HF to prime from the FP8 checkpoint") {
  // num_hidden_layers 3, first_k_dense_replace 1, one MTP layer: 0 dense, 1-2 MoE, 3 MTP.
  StateDict hf = tiny_hf("deepseek_v3");
  REQUIRE(hf.contains("model.layers.0.mlp.gate_proj.weight_scale_inv"));
  REQUIRE(hf.contains("model.layers.2.mlp.experts.3.down_proj.weight_scale_inv"));
  REQUIRE(hf.contains("model.layers.3.mlp.shared_experts.up_proj.weight"));
  check_forward(kDeepSeek, ExpertLayout::per_expert);
  CHECK_FALSE(has_fused_layout("deepseek_v3", chains_dir()));
}

TEST_CASE("deepseek_v3 prime to HF and both roundtrips") {
  check_backward_and_roundtrips(kDeepSeek);
}

TEST_CASE("deepseek_v3 single layer and expert-parallel shard") {
  check_single_layer(kDeepSeek, "model.layers.2.");
  // The shard's experts 2 and 3 carry their companions, stacked from the same offset.
  check_shard(kDeepSeek, "model.layers.1.", "model.layers.1.mlp.experts.");
  auto chain = model_chain("deepseek_v3");
  StateDict hf = tiny_hf("deepseek_v3");
  StateDict shard = subset(hf, [](const std::string& k) {
    return starts_with(k, "model.layers.1.mlp.experts.2.") ||
           starts_with(k, "model.layers.1.mlp.experts.3.");
  });
  Options options;
  options.expert_offset = 2;
  StateDict prime = convert(*chain, shard, Direction::to_prime, options);
  REQUIRE(prime.size() == 6);
  const at::Tensor& scales = prime.at("model.layers.1.mlp.experts.w2_scale_inv");
  REQUIRE(scales.sizes() == at::IntArrayRef{2, 2, 1});  // 2 local experts, [8, 4] in blocks of 4
  CHECK(at::equal(scales[0], hf.at("model.layers.1.mlp.experts.2.down_proj.weight_scale_inv")));
  CHECK(at::equal(scales[1], hf.at("model.layers.1.mlp.experts.3.down_proj.weight_scale_inv")));
  require_identical(convert(*chain, prime, Direction::to_hf, options), shard);
}

TEST_CASE("deepseek_v3 dense layers below first_k_dense_replace are untouched") {
  auto chain = model_chain("deepseek_v3");
  StateDict hf = tiny_hf("deepseek_v3");
  StateDict dense = layer_of(hf, 0);
  // Two norms, MLA attention (5 FP8 projections with companions, 2 norms), a dense FP8 MLP.
  REQUIRE(dense.size() == 2 + 5 * 2 + 2 + 3 * 2);
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  require_identical(layer_of(prime, 0), dense);
  require_identical(convert(*chain, dense, Direction::to_prime), dense);
  require_identical(convert(*chain, dense, Direction::to_hf), dense);
}

TEST_CASE("deepseek_v3 MTP layer converts like any MoE layer and keeps its extra keys") {
  auto chain = model_chain("deepseek_v3");
  StateDict mtp = layer_of(tiny_hf("deepseek_v3"), 3);
  for (const char* extra :
       {"eh_proj.weight", "enorm.weight", "hnorm.weight", "shared_head.norm.weight",
        "shared_head.head.weight", "embed_tokens.weight"})
    REQUIRE(mtp.contains(std::string("model.layers.3.") + extra));
  StateDict prime = convert(*chain, mtp, Direction::to_prime);
  require_identical(prime, deepseek_by_hand(clone(mtp), 0));
  CHECK(prime.contains("model.layers.3.mlp.experts.w1_scale_inv"));
  CHECK(prime.contains("model.layers.3.mlp.shared_expert.w3_scale_inv"));
  CHECK(prime.contains("model.layers.3.eh_proj.weight"));
  require_identical(convert(*chain, prime, Direction::to_hf), mtp);
}

TEST_CASE("deepseek_v3 moves F8_E4M3 weights and their F32 companions as bytes") {
  auto chain = model_chain("deepseek_v3");
  StateDict hf = tiny_hf("deepseek_v3");
  const std::string mlp = "model.layers.1.mlp.";
  REQUIRE(hf.item(mlp + "experts.2.gate_proj.weight").opaque_dtype == "F8_E4M3");
  REQUIRE(hf.item(mlp + "experts.2.gate_proj.weight_scale_inv").tensor.scalar_type() == at::kFloat);
  StateDict prime = convert(*chain, hf, Direction::to_prime);

  // Routed experts: [E, I, H] = [4, 4, 8] FP8, companions [E, ceil(4/4), ceil(8/4)] = [4, 1, 2].
  const Item& w1 = prime.item(mlp + "experts.w1");
  CHECK(w1.opaque_dtype == "F8_E4M3");
  CHECK(w1.tensor.sizes() == at::IntArrayRef{4, 4, 8});
  const Item& w1_scale = prime.item(mlp + "experts.w1_scale_inv");
  CHECK(w1_scale.opaque_dtype.empty());
  CHECK(w1_scale.tensor.scalar_type() == at::kFloat);
  CHECK(w1_scale.tensor.sizes() == at::IntArrayRef{4, 1, 2});
  CHECK(prime.at(mlp + "experts.w2_scale_inv").sizes() == at::IntArrayRef{4, 2, 1});
  for (int e = 0; e < 4; ++e) {
    INFO("expert " << e);
    std::string x = mlp + "experts." + std::to_string(e) + ".";
    CHECK(at::equal(w1.tensor[e], hf.at(x + "gate_proj.weight")));
    CHECK(at::equal(w1_scale.tensor[e], hf.at(x + "gate_proj.weight_scale_inv")));
    CHECK(at::equal(prime.at(mlp + "experts.w3_scale_inv")[e],
                    hf.at(x + "up_proj.weight_scale_inv")));
  }
  // Shared experts: renamed with their weights, no .weight on either.
  CHECK(prime.item(mlp + "shared_expert.w2").opaque_dtype == "F8_E4M3");
  CHECK(at::equal(prime.at(mlp + "shared_expert.w2_scale_inv"),
                  hf.at(mlp + "shared_experts.down_proj.weight_scale_inv")));
  // The router gate and the bias are not quantized and have no companion.
  CHECK(prime.item(mlp + "router.gate.weight").tensor.scalar_type() == at::kBFloat16);
  CHECK(prime.at(mlp + "expert_bias").scalar_type() == at::kFloat);
  // Attention companions keep their HF names, next to their weights.
  for (const char* proj : {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"}) {
    std::string k = "model.layers.1.self_attn." + std::string(proj) + ".weight";
    INFO(k);
    CHECK(prime.item(k).opaque_dtype == "F8_E4M3");
    CHECK(at::equal(prime.at(k + "_scale_inv"), hf.at(k + "_scale_inv")));
  }
  // Companions alone (a dict without their weights) stack and rename all the same.
  StateDict scales_only = subset(hf, [&](const std::string& k) {
    return starts_with(k, mlp) && k.find("_scale_inv") != std::string::npos;
  });
  REQUIRE(scales_only.size() == 4 * 3 + 3);
  StateDict scales_prime = convert(*chain, scales_only, Direction::to_prime);
  require_identical(scales_prime, deepseek_by_hand(clone(scales_only), 0));
  CHECK(scales_prime.size() == 6);
  require_identical(convert(*chain, scales_prime, Direction::to_hf), scales_only);
  // No companion is left under an HF expert name.
  for (const auto& key : prime.keys()) {
    INFO(key);
    CHECK(key.find("experts.0.") == std::string::npos);
    CHECK(key.find("shared_experts.") == std::string::npos);
  }
}

TEST_CASE("deepseek_v3 without quantization_config (BF16) converts by the same rules") {
  auto chain = model_chain("deepseek_v3");
  nlohmann::json config = tiny_config("deepseek_v3", chains_dir());
  config.erase("quantization_config");
  StateDict hf =
      synthetic_state_dict(make_layout(config, ExpertLayout::per_expert, chains_dir()), 7);
  for (const auto& key : hf.keys()) REQUIRE(key.find("_scale_inv") == std::string::npos);
  REQUIRE(hf.item("model.layers.1.mlp.experts.0.gate_proj.weight").opaque_dtype.empty());
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  require_identical(prime, deepseek_by_hand(clone(hf), 0));
  require_identical(convert(*chain, prime, Direction::to_hf), hf);
}

TEST_CASE("deepseek_v3 accepts fused experts on forward and writes them back per expert") {
  auto chain = model_chain("deepseek_v3");
  const int E = 2, I = 2, H = 3;
  const std::string x = "model.layers.5.mlp.experts.";
  StateDict fused{{x + "gate_up_proj", counting({E, 2 * I, H})},
                  {x + "down_proj", counting({E, H, I}, 100)}};
  StateDict prime = convert(*chain, fused, Direction::to_prime);
  at::Tensor gate_up = counting({E, 2 * I, H});
  require_identical(prime, StateDict{{x + "w1", gate_up.narrow(1, 0, I)},
                                     {x + "w2", counting({E, H, I}, 100)},
                                     {x + "w3", gate_up.narrow(1, I, I)}});
  StateDict hf = convert(*chain, prime, Direction::to_hf);
  StateDict expected;
  for (int e = 0; e < E; ++e) {
    std::string p = x + std::to_string(e) + ".";
    expected.insert(p + "gate_proj.weight", gate_up[e].narrow(0, 0, I));
    expected.insert(p + "up_proj.weight", gate_up[e].narrow(0, I, I));
    expected.insert(p + "down_proj.weight", counting({E, H, I}, 100)[e]);
  }
  require_identical(hf, expected);
}

TEST_CASE("deepseek_v3 with dequantize=true gives a BF16 prime checkpoint without companions") {
  auto chain = model_chain("deepseek_v3");
  StateDict hf = tiny_hf("deepseek_v3");
  // Set two weights' codes and scales by hand (the tiny config's blocks are 4 x 4): o_proj
  // [8, 4] all code 0x40 (2.0) with scales [[3], [5]]; expert 2's gate_proj [4, 8] (layer 1)
  // all code 0xB8 (-1.0) with scales [[0.5, 4]].
  const std::string o = "model.layers.0.self_attn.o_proj.weight";
  const std::string gate = "model.layers.1.mlp.experts.2.gate_proj.weight";
  hf.set(o, Item{at::full({8, 4}, 0x40, at::kByte), "F8_E4M3"});
  hf.set(o + "_scale_inv", Item{at::tensor({3.0f, 5.0f}).reshape({2, 1}), ""});
  hf.set(gate, Item{at::full({4, 8}, 0xB8, at::kByte), "F8_E4M3"});
  hf.set(gate + "_scale_inv", Item{at::tensor({0.5f, 4.0f}).reshape({1, 2}), ""});
  Options options;
  options.params["dequantize"] = "true";
  std::ifstream config(chains_dir() + "/layouts/deepseek_v3.config.json");
  options.config.assign(std::istreambuf_iterator<char>(config), {});
  StateDict prime = convert(*chain, hf, Direction::to_prime, options);
  for (const auto& [key, item] : prime) {
    INFO("key " << key);
    CHECK(key.find("scale_inv") == std::string::npos);
    CHECK(item.opaque_dtype.empty());
    CHECK((item.tensor.scalar_type() == at::kBFloat16 ||
           key.find("expert_bias") != std::string::npos));
  }
  at::Tensor want_o = at::full({8, 4}, 6.0);
  want_o.narrow(0, 4, 4).fill_(10.0);
  CHECK(at::equal(prime.at(o).to(at::kFloat), want_o));
  at::Tensor w1 = prime.at("model.layers.1.mlp.experts.w1").select(0, 2).to(at::kFloat);
  at::Tensor want_gate = at::full({4, 8}, -0.5);
  want_gate.narrow(1, 4, 4).fill_(-4.0);
  CHECK(at::equal(w1, want_gate));

  // Back to HF: every FP8 weight and companion again, the hand-set ones exactly (each block's
  // o_proj: 2.0 x 3 = 6 everywhere, so its block scale is 6 / 448 and every code 448).
  StateDict back = convert(*chain, prime, Direction::to_hf, options);
  CHECK(back.keys() == hf.keys());
  CHECK(back.item(o).opaque_dtype == "F8_E4M3");
  CHECK(back.at(o + "_scale_inv")[0][0].item<float>() == 6.0f / 448.0f);
  CHECK(at::equal(back.at(o), at::full({8, 4}, 0x7E, at::kByte)));
}
