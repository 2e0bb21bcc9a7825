// Replay plans on small hand-written chains, with expectations worked out by hand: a plan
// does the conversion it was compiled for on new values, plays no step for a rename,
// and refuses inputs it was not compiled for without touching them.
#include "replay/replay_plan.h"
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

static const char* kMoeChain = R"(version: 1
model_types: [test]
description: replay test
ops:
  - rename: {from: "l.{layer}.attn.q.weight", to: "l.{layer}.attn.wq"}
  - stack: {from: "l.{layer}.experts.{expert}.up.weight", to: "l.{layer}.experts.w3"}
  - split: {from: "l.{layer}.fused.weight", into: ["l.{layer}.gate", "l.{layer}.up"], dim: 0}
  - map: {key: "l.{layer}.bias", forward: negate, backward: negate}
  - synthetic: {key: "l.{layer}.experts.w2", like: "l.{layer}.experts.w3"}
)";

static std::string up(int layer, int expert) {
  return "l." + std::to_string(layer) + ".experts." + std::to_string(expert) + ".up.weight";
}

// Layer 0 of the test model, values starting at `start`.
static StateDict layer0(double start) {
  StateDict sd;
  sd.insert("l.0.attn.q.weight", counting({2, 2}, start));
  for (int e = 0; e < 3; ++e) sd.insert(up(0, e), counting({2, 3}, start + 10 * (e + 1)));
  sd.insert("l.0.fused.weight", counting({4, 2}, start + 100));
  sd.insert("l.0.bias", counting({3}, start + 200));
  sd.insert("l.0.norm.weight", counting({2}, start + 300));  // no op touches it
  return sd;
}

TEST_CASE("a plan replays its conversion on new values, both ways") {
  auto chain = chain_from(kMoeChain);
  const ReplayPlan to_prime = ReplayPlan::compile(*chain, Direction::to_prime, layer0(0));
  CHECK(to_prime.input_keys() ==
        std::vector<std::string>{"l.0.attn.q.weight", "l.0.bias", "l.0.experts.0.up.weight",
                                 "l.0.experts.1.up.weight", "l.0.experts.2.up.weight",
                                 "l.0.fused.weight", "l.0.norm.weight"});
  CHECK(to_prime.output_keys() ==
        std::vector<std::string>{"l.0.attn.wq", "l.0.bias", "l.0.experts.w2", "l.0.experts.w3",
                                 "l.0.gate", "l.0.norm.weight", "l.0.up"});
  // stack, split, map and synthetic: one step each; the rename is aliased.
  CHECK(to_prime.steps() == 4);

  StateDict sd = layer0(1000);  // other values than the plan was compiled on
  to_prime.replay(sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"l.0.attn.wq", "l.0.bias", "l.0.experts.w2",
                                                "l.0.experts.w3", "l.0.gate", "l.0.norm.weight",
                                                "l.0.up"});
  CHECK(at::equal(sd.at("l.0.attn.wq"), counting({2, 2}, 1000)));
  CHECK(at::equal(
      sd.at("l.0.experts.w3"),
      at::stack({counting({2, 3}, 1010), counting({2, 3}, 1020), counting({2, 3}, 1030)})));
  CHECK(at::equal(sd.at("l.0.gate"), counting({2, 2}, 1100)));
  CHECK(at::equal(sd.at("l.0.up"), counting({2, 2}, 1104)));
  CHECK(at::equal(sd.at("l.0.bias"), -counting({3}, 1200)));
  CHECK(sd.at("l.0.experts.w2").sizes() == at::IntArrayRef{0});
  CHECK(sd.at("l.0.experts.w2").scalar_type() == at::kFloat);  // the synthetic takes w3's dtype
  CHECK(at::equal(sd.at("l.0.norm.weight"), counting({2}, 1300)));

  // And back: a plan compiled on meta tensors of the prime key set.
  StateDict prime_meta;
  for (const auto& [key, item] : sd)
    prime_meta.set(key, Item{meta(item.tensor.sizes().vec(), at::kFloat), {}});
  const ReplayPlan to_hf = ReplayPlan::compile(*chain, Direction::to_hf, prime_meta);
  to_hf.replay(sd);
  require_same(sd, layer0(1000));
}

TEST_CASE("the flat replay takes and gives tensors in the plan's key order") {
  auto chain = chain_from(kMoeChain);
  const ReplayPlan plan = ReplayPlan::compile(*chain, Direction::to_prime, layer0(0));
  std::vector<Item> inputs;
  for (const auto& [key, item] : layer0(500)) inputs.push_back(item);
  std::vector<Item> outputs = plan.replay(std::move(inputs));
  REQUIRE(outputs.size() == plan.output_keys().size());
  CHECK(plan.output_keys()[3] == "l.0.experts.w3");
  CHECK(at::equal(outputs[3].tensor, at::stack({counting({2, 3}, 510), counting({2, 3}, 520),
                                                counting({2, 3}, 530)})));
  CHECK(plan.output_keys()[1] == "l.0.bias");
  CHECK(at::equal(outputs[1].tensor, -counting({3}, 700)));
}

TEST_CASE("a plan of renames only plays no steps") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: renames
ops:
  - rename: {from: "a.{n}.w", to: "b.{n}.w"}
  - prefix_rename: {from: "b.", to: "c."}
)");
  StateDict sd{{"a.0.w", counting({2})}, {"a.1.w", counting({2}, 2)}, {"z", counting({1})}};
  const ReplayPlan plan = ReplayPlan::compile(*chain, Direction::to_prime, sd);
  CHECK(plan.steps() == 0);
  const at::Tensor a1 = sd.at("a.1.w");
  plan.replay(sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"c.0.w", "c.1.w", "z"});
  CHECK(sd.at("c.1.w").data_ptr() == a1.data_ptr());  // moved, not copied
}

TEST_CASE("a shard's plan numbers experts from the offset") {
  auto chain = chain_from(kMoeChain);
  RunOptions shard;
  shard.expert_offset = 4;
  StateDict prime{{"l.2.experts.w3", counting({2, 1, 3})}};
  const ReplayPlan plan = ReplayPlan::compile(*chain, Direction::to_hf, prime, shard);
  CHECK(plan.output_keys() == std::vector<std::string>{up(2, 4), up(2, 5)});
  plan.replay(prime);
  CHECK(at::equal(prime.at(up(2, 5)), counting({1, 3}, 3)));
}

TEST_CASE("replay refuses inputs the plan was not compiled for, and leaves them as they were") {
  auto chain = chain_from(kMoeChain);
  const ReplayPlan plan = ReplayPlan::compile(*chain, Direction::to_prime, layer0(0));

  StateDict wrong_shape = layer0(0);
  wrong_shape.set(up(0, 1), Item{counting({2, 4}), {}});
  REQUIRE_THROWS_WITH(
      plan.replay(wrong_shape),
      Catch::Contains("'" + up(0, 1) +
                      "' is [2, 4] Float but the plan was compiled for [2, 3] Float"));
  require_same(wrong_shape, [] {
    StateDict expected = layer0(0);
    expected.set(up(0, 1), Item{counting({2, 4}), {}});
    return expected;
  }());

  StateDict wrong_dtype = layer0(0);
  wrong_dtype.set("l.0.bias", Item{counting({3}, 0, at::kDouble), {}});
  REQUIRE_THROWS_WITH(plan.replay(wrong_dtype), Catch::Contains("'l.0.bias' is [3] Double"));

  StateDict extra = layer0(0);
  extra.insert("l.0.extra", counting({1}));
  REQUIRE_THROWS_WITH(plan.replay(extra),
                      Catch::Contains("the dict has 'l.0.extra' where the plan expects"));
  CHECK(extra.size() == 8);

  StateDict missing = layer0(0);
  missing.erase("l.0.norm.weight");
  REQUIRE_THROWS_WITH(plan.replay(missing), Catch::Contains("the dict lacks 'l.0.norm.weight'"));

  REQUIRE_THROWS_WITH(plan.replay(std::vector<Item>(3)),
                      Catch::Contains("3 inputs given, the plan takes 7"));
}

TEST_CASE("compiling a plan fails as the run would, at the op's position") {
  auto chain = chain_from(kMoeChain, "moe.yaml");
  StateDict gap = layer0(0);
  gap.erase(up(0, 1));
  REQUIRE_THROWS_WITH(ReplayPlan::compile(*chain, Direction::to_prime, gap),
                      Catch::Contains("moe.yaml:6:") && Catch::Contains("is missing"));
}
