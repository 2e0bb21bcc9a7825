// laguna, against docs/MODELS.md: router gate, expert bias and shared expert each with a canonical
// and an alternate HF name. Forward takes whichever is present; with both, the canonical one
// wins, the alternate stays untouched and a warning names it. Backward emits canonical names.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

const char* kShared[][2] = {{"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"}};

// Canonical names only (what the layout generates).
StateDict laguna_by_hand(StateDict d, int offset) {
  for (int layer = 0; layer < 8; ++layer) {
    std::string l = layer_key(layer, "");
    if (d.contains(l + "mlp.gate.weight"))
      move(d, l + "mlp.gate.weight", l + "mlp.router.gate.weight");
    if (d.contains(l + "mlp.experts.e_score_correction_bias"))
      move(d, l + "mlp.experts.e_score_correction_bias", l + "mlp.expert_bias");
    routed_experts_by_hand(d, l + "mlp", offset);
    for (auto& [hf, prime] : kShared)
      if (d.contains(l + "mlp.shared_expert." + hf + ".weight"))
        move(d, l + "mlp.shared_expert." + hf + ".weight",
             l + "shared_expert." + prime + ".weight");
  }
  return d;
}

const ModelCase kLaguna{"laguna", laguna_by_hand};

// The tiny checkpoint with layer 1's bias and shared expert under their alternate names.
StateDict with_alternates(StateDict d) {
  const std::string l = "model.layers.1.mlp.";
  move(d, l + "experts.e_score_correction_bias", l + "gate.e_score_correction_bias");
  for (auto& [hf, prime] : kShared)
    move(d, l + "shared_expert." + hf + ".weight", l + "shared_experts." + hf + ".weight");
  return d;
}

}  // namespace

TEST_CASE("laguna HF to prime with per-expert and with fused experts") {
  check_forward(kLaguna, ExpertLayout::per_expert);
  check_forward(kLaguna, ExpertLayout::fused);
}

TEST_CASE("laguna prime to HF and both roundtrips") { check_backward_and_roundtrips(kLaguna); }

TEST_CASE("laguna single layer and expert-parallel shard") {
  check_single_layer(kLaguna, "model.layers.1.");
  check_shard(kLaguna, "model.layers.1.", "model.layers.1.mlp.experts.");
}

TEST_CASE("laguna alternate names convert and come back canonical") {
  auto chain = model_chain("laguna");
  StateDict canonical = tiny_hf("laguna");
  StateDict alternate = with_alternates(clone(canonical));
  StateDict prime = convert(*chain, alternate, Direction::to_prime);
  require_identical(prime, laguna_by_hand(clone(canonical), 0));
  require_identical(convert(*chain, prime, Direction::to_hf), canonical);
}

TEST_CASE(
    "laguna with both variants present the canonical wins and a warning names the alternate") {
  auto chain = model_chain("laguna");
  StateDict canonical = tiny_hf("laguna");
  const std::string l = "model.layers.1.mlp.";
  StateDict both = clone(canonical);
  const at::Tensor alt_bias = counting({4}, 900), alt_gate = counting({4, 8}, 500);
  both.insert(l + "gate.e_score_correction_bias", alt_bias);
  both.insert(l + "shared_experts.gate_proj.weight", alt_gate);

  std::vector<Warning> warnings;
  StateDict prime = convert(*chain, both, Direction::to_prime, {}, &warnings);
  StateDict expected = laguna_by_hand(clone(canonical), 0);
  expected.insert(l + "gate.e_score_correction_bias", alt_bias);     // left untouched
  expected.insert(l + "shared_experts.gate_proj.weight", alt_gate);  // left untouched
  require_identical(prime, expected);
  REQUIRE(warnings.size() == 2);
  std::string all = warnings[0].str() + warnings[1].str();
  CHECK(all.find("'" + l + "gate.e_score_correction_bias' is left untouched") != std::string::npos);
  CHECK(all.find("'" + l + "shared_experts.gate_proj.weight' is left untouched") !=
        std::string::npos);
  CHECK(all.find("laguna.yaml:") != std::string::npos);

  Options strict;
  strict.strict = true;
  StateDict again = clone(both);
  CHECK_THROWS_AS(run_chain(*chain, again, Direction::to_prime, strict), Error);
}

TEST_CASE("laguna drops the prime-only tokens_per_expert") {
  auto chain = model_chain("laguna");
  StateDict prime{{"model.layers.1.mlp.tokens_per_expert", counting({4})},
                  {"model.layers.1.mlp.expert_bias", counting({4}, 3)}};
  require_identical(
      convert(*chain, prime, Direction::to_hf),
      StateDict{{"model.layers.1.mlp.experts.e_score_correction_bias", counting({4}, 3)}});
}
