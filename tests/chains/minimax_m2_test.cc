// minimax_m2, against docs/MODELS.md: block_sparse_moe -> mlp (router gate, expert bias, the
// literal w1/w2/w3 per-expert weights stacked). FP8 weights move as bytes; their
// weight_scale_inv companions are never matched by a weight template.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict minimax_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string hf = layer_key(layer, "block_sparse_moe."), prime = layer_key(layer, "mlp.");
    if (d.contains(hf + "gate.weight")) move(d, hf + "gate.weight", prime + "router.gate.weight");
    if (d.contains(hf + "e_score_correction_bias"))
      move(d, hf + "e_score_correction_bias", prime + "expert_bias");
    for (const char* w : {"w1", "w2", "w3"}) {
      auto key = [&](int e) { return hf + "experts." + std::to_string(e) + "." + w + ".weight"; };
      if (int n = count_from(d, key, offset)) stack_into(d, key, offset, n, prime + "experts." + w);
    }
  }
  return d;
}

const ModelCase kMiniMax{"minimax_m2", minimax_by_hand};

}  // namespace

TEST_CASE("minimax_m2 HF to prime from the FP8 checkpoint") {
  check_forward(kMiniMax, ExpertLayout::per_expert);
  CHECK_FALSE(has_fused_layout("minimax_m2", chains_dir()));
}

TEST_CASE("minimax_m2 prime to HF and both roundtrips") { check_backward_and_roundtrips(kMiniMax); }

TEST_CASE("minimax_m2 single layer and expert-parallel shard") {
  check_single_layer(kMiniMax, "model.layers.1.");
  check_shard(kMiniMax, "model.layers.0.", "model.layers.0.block_sparse_moe.experts.");
}

TEST_CASE("minimax_m2 carries FP8 bytes unchanged and never touches weight_scale_inv") {
  auto chain = model_chain("minimax_m2");
  StateDict hf = tiny_hf("minimax_m2");
  const std::string x = "model.layers.1.block_sparse_moe.experts.";
  REQUIRE(hf.item(x + "2.w1.weight").opaque_dtype == "F8_E4M3");
  REQUIRE(hf.item(x + "2.w1.weight_scale_inv").tensor.scalar_type() == at::kFloat);
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  const Item& w1 = prime.item("model.layers.1.mlp.experts.w1");
  CHECK(w1.opaque_dtype == "F8_E4M3");
  for (int e = 0; e < 4; ++e) {
    INFO("expert " << e);
    CHECK(at::equal(w1.tensor[e], hf.at(x + std::to_string(e) + ".w1.weight")));
    // The companion keeps its HF name, dtype and values.
    for (const char* w : {"w1", "w2", "w3"}) {
      std::string scale = x + std::to_string(e) + "." + w + ".weight_scale_inv";
      REQUIRE(prime.contains(scale));
      CHECK(at::equal(prime.at(scale), hf.at(scale)));
    }
  }
  // A dict holding only scales converts to itself both ways.
  StateDict scales = subset(
      hf, [](const std::string& k) { return k.find("weight_scale_inv") != std::string::npos; });
  require_identical(convert(*chain, scales, Direction::to_prime), scales);
  require_identical(convert(*chain, scales, Direction::to_hf), scales);
  // prime-only tokens_per_expert is dropped.
  StateDict buffer{{"model.layers.1.mlp.tokens_per_expert", counting({4})}};
  CHECK(convert(*chain, buffer, Direction::to_hf).empty());
}
