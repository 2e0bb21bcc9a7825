// mixtral, against docs/MODELS.md: block_sparse_moe -> mlp in every layer (router gate, and the
// literal per-expert w1 (gate) / w2 (down) / w3 (up) weights stacked under the same names).
// There is no fused layout; attention and norms pass through.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict mixtral_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string hf = layer_key(layer, "block_sparse_moe."), prime = layer_key(layer, "mlp.");
    if (d.contains(hf + "gate.weight")) move(d, hf + "gate.weight", prime + "router.gate.weight");
    for (const char* w : {"w1", "w2", "w3"}) {
      auto key = [&](int e) { return hf + "experts." + std::to_string(e) + "." + w + ".weight"; };
      if (int n = count_from(d, key, offset)) stack_into(d, key, offset, n, prime + "experts." + w);
    }
  }
  return d;
}

const ModelCase kMixtral{"mixtral", mixtral_by_hand};

}  // namespace

TEST_CASE("mixtral HF to prime: every layer is MoE, no fused layout") {
  StateDict hf = tiny_hf("mixtral");
  REQUIRE(hf.contains("model.layers.0.block_sparse_moe.experts.3.w2.weight"));
  REQUIRE(hf.contains("model.layers.1.block_sparse_moe.gate.weight"));
  check_forward(kMixtral, ExpertLayout::per_expert);
  CHECK_FALSE(has_fused_layout("mixtral", chains_dir()));
}

TEST_CASE("mixtral prime to HF and both roundtrips") { check_backward_and_roundtrips(kMixtral); }

TEST_CASE("mixtral single layer and expert-parallel shard") {
  check_single_layer(kMixtral, "model.layers.1.");
  check_shard(kMixtral, "model.layers.0.", "model.layers.0.block_sparse_moe.experts.");
}

TEST_CASE("mixtral experts keep their literal w1/w2/w3 meaning and HF names") {
  auto chain = model_chain("mixtral");
  const int I = 2, H = 3;
  const std::string x = "model.layers.4.block_sparse_moe.experts.";
  StateDict hf;
  for (int e = 0; e < 2; ++e) {
    hf.insert(x + std::to_string(e) + ".w1.weight", counting({I, H}, 100 * e));       // gate
    hf.insert(x + std::to_string(e) + ".w2.weight", counting({H, I}, 100 * e + 10));  // down
    hf.insert(x + std::to_string(e) + ".w3.weight", counting({I, H}, 100 * e + 20));  // up
  }
  hf.insert("model.layers.4.block_sparse_moe.gate.weight", counting({2, H}, 7));
  StateDict expected{
      {"model.layers.4.mlp.experts.w1", at::stack({counting({I, H}, 0), counting({I, H}, 100)})},
      {"model.layers.4.mlp.experts.w2", at::stack({counting({H, I}, 10), counting({H, I}, 110)})},
      {"model.layers.4.mlp.experts.w3", at::stack({counting({I, H}, 20), counting({I, H}, 120)})},
      {"model.layers.4.mlp.router.gate.weight", counting({2, H}, 7)}};
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  require_identical(prime, expected);
  // Backward writes block_sparse_moe's literal names, never gate_proj / down_proj / up_proj.
  require_identical(convert(*chain, prime, Direction::to_hf), hf);

  // Keys in another model's naming are not Mixtral's: they pass through untouched.
  StateDict foreign{{"model.layers.4.mlp.experts.0.gate_proj.weight", counting({I, H})},
                    {"model.layers.4.mlp.gate.weight", counting({2, H})}};
  require_identical(convert(*chain, foreign, Direction::to_prime), foreign);
}
