// afmoe, against docs/MODELS.md: router and expert_bias keep their names; shared experts become
// shared_expert.{w1,w2,w3} (no .weight); per-expert routed experts stack; tokens_per_expert
// and everything under mlp.reorderer. are dropped, in every layer.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict afmoe_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string mlp = layer_key(layer, "mlp.");
    const char* projections[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};
    for (auto& [hf, prime] : projections)
      if (d.contains(mlp + "shared_experts." + hf + ".weight"))
        move(d, mlp + "shared_experts." + hf + ".weight", mlp + "shared_expert." + prime);
    routed_experts_by_hand(d, layer_key(layer, "mlp"), offset);
    d.erase(mlp + "tokens_per_expert");
    for (const std::string& key : d.keys_with_prefix(mlp + "reorderer.")) d.erase(key);
  }
  return d;
}

const ModelCase kAfmoe{"afmoe", afmoe_by_hand};

}  // namespace

TEST_CASE("afmoe HF to prime keeps router and expert_bias names") {
  check_forward(kAfmoe, ExpertLayout::per_expert);
  CHECK_FALSE(has_fused_layout("afmoe", chains_dir()));
  auto chain = model_chain("afmoe");
  StateDict prime = convert(*chain, tiny_hf("afmoe"), Direction::to_prime);
  CHECK(prime.contains("model.layers.1.mlp.router.gate.weight"));
  CHECK(prime.contains("model.layers.1.mlp.expert_bias"));
  CHECK(prime.contains("model.layers.1.mlp.shared_expert.w2"));
}

TEST_CASE("afmoe prime to HF and both roundtrips") { check_backward_and_roundtrips(kAfmoe); }

TEST_CASE("afmoe single layer and expert-parallel shard") {
  check_single_layer(kAfmoe, "model.layers.1.");
  check_shard(kAfmoe, "model.layers.1.", "model.layers.1.mlp.experts.");
}

TEST_CASE("afmoe drops tokens_per_expert and everything under reorderer in every layer") {
  auto chain = model_chain("afmoe");
  StateDict hf = tiny_hf("afmoe");
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  StateDict with_buffers = clone(prime);
  for (int layer : {0, 1, 7}) {
    with_buffers.insert(layer_key(layer, "mlp.tokens_per_expert"), counting({4}));
    with_buffers.insert(layer_key(layer, "mlp.reorderer.perm"), counting({4}, 1, at::kLong));
    with_buffers.insert(layer_key(layer, "mlp.reorderer.inner.counts"), counting({2, 2}, 5));
  }
  require_identical(convert(*chain, with_buffers, Direction::to_hf), hf);
  // In the forward direction too.
  StateDict hf_with_buffers = clone(hf);
  hf_with_buffers.insert("model.layers.1.mlp.tokens_per_expert", counting({4}));
  hf_with_buffers.insert("model.layers.1.mlp.reorderer.perm", counting({4}));
  require_identical(convert(*chain, hf_with_buffers, Direction::to_prime), prime);
}
