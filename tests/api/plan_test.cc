// Chain::plan: where each output key comes from, computed on shapes alone.
#include "api/api_support.h"

using namespace api_test;

static const std::string L3 = "model.layers.3.mlp.";

static at::Tensor meta(std::vector<int64_t> shape) {
  return at::empty(shape, at::TensorOptions().dtype(at::kBFloat16).device(at::kMeta));
}

TEST_CASE("plan traces qwen3_moe experts to the stack op and the router to the rename") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  // Full-size shapes as meta tensors: 128 experts of [768, 2048], nothing allocated.
  cc::TensorMap sd;
  sd[L3 + "gate.weight"] = meta({128, 2048});
  sd["model.norm.weight"] = meta({2048});
  for (int e = 0; e < 128; ++e) {
    const std::string x = L3 + "experts." + std::to_string(e) + ".";
    sd[x + "gate_proj.weight"] = meta({768, 2048});
    sd[x + "down_proj.weight"] = meta({2048, 768});
    sd[x + "up_proj.weight"] = meta({768, 2048});
  }
  const cc::Plan plan = chain.plan(sd, cc::Direction::to_prime);
  CHECK(sd.size() == 2 + 3 * 128);  // the input is not converted

  REQUIRE(plan.entries.size() == 5);
  std::vector<std::string> keys;
  for (const auto& e : plan.entries) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3",
                                         L3 + "router.gate.weight", "model.norm.weight"});

  const cc::PlanEntry* w2 = plan.find(L3 + "experts.w2");
  REQUIRE(w2);
  CHECK(w2->shape == std::vector<int64_t>{128, 2048, 768});
  CHECK(w2->dtype == at::kBFloat16);
  REQUIRE(w2->sources.size() == 128);
  CHECK(w2->sources[0] == L3 + "experts.0.down_proj.weight");
  CHECK(w2->sources[2] == L3 + "experts.2.down_proj.weight");  // natural order: 2 before 10
  CHECK(w2->sources[127] == L3 + "experts.127.down_proj.weight");
  REQUIRE(w2->steps.size() == 1);
  CHECK(w2->steps[0].op == "stack");
  CHECK_THAT(line_of(w2->steps[0].pos.file, w2->steps[0].pos.line), Catch::Contains("stack"));
  CHECK_THAT(line_of(w2->steps[0].pos.file, w2->steps[0].pos.line), Catch::Contains("down"));

  const cc::PlanEntry* router = plan.find(L3 + "router.gate.weight");
  REQUIRE(router);
  CHECK(router->sources == std::vector<std::string>{L3 + "gate.weight"});
  REQUIRE(router->steps.size() == 1);
  CHECK(router->steps[0].op == "rename");
  CHECK(router->steps[0].pos.file == CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  CHECK_THAT(line_of(router->steps[0].pos.file, router->steps[0].pos.line),
             Catch::Contains("mlp.gate.weight"));

  const cc::PlanEntry* norm = plan.find("model.norm.weight");
  REQUIRE(norm);
  CHECK(norm->passes_through());
  CHECK(norm->sources == std::vector<std::string>{"model.norm.weight"});
  CHECK(plan.find("model.layers.3.mlp.experts.0.up_proj.weight") == nullptr);
}

TEST_CASE("plan of a fused layer shows views split from gate_up_proj") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd{{L3 + "experts.gate_up_proj", meta({8, 32, 16})},
                   {L3 + "experts.down_proj", meta({8, 16, 16})}};
  const cc::Plan plan = chain.plan(sd, cc::Direction::to_prime);
  const cc::PlanEntry* w3 = plan.find(L3 + "experts.w3");
  REQUIRE(w3);
  CHECK(w3->shape == std::vector<int64_t>{8, 16, 16});
  CHECK(w3->sources == std::vector<std::string>{L3 + "experts.gate_up_proj"});
  REQUIRE(w3->steps.size() == 1);
  CHECK(w3->steps[0].op == "split");
  const cc::PlanEntry* w2 = plan.find(L3 + "experts.w2");
  REQUIRE(w2);
  REQUIRE(w2->steps.size() == 1);
  CHECK(w2->steps[0].op == "rename");
}

// Positions counted by hand: the rename is on line 5, the stack on line 6, the synthetic on 7.
static const std::string kChain =
    "version: 1\n"
    "model_types: [api_test]\n"
    "description: plan test chain\n"
    "ops:\n"
    "  - rename: {from: \"a.{i}.w\", to: \"b.{i}.w\"}\n"
    "  - stack: {from: \"b.{i}.w\", to: c, index: i}\n"
    "  - synthetic: {key: c_bias, like: c, shape: [0]}\n";

TEST_CASE("plan follows a key through every op that moved it, with their positions") {
  cc::Chain chain = cc::Chain::from_string(kChain, "plan.yaml");
  cc::TensorMap sd{{"a.5.w", counting({4})}, {"a.6.w", counting({4})}, {"other", counting({1})}};
  cc::Options options;
  options.expert_offset = 5;
  const cc::Plan plan = chain.plan(sd, cc::Direction::to_prime, options);
  REQUIRE(plan.entries.size() == 3);

  const cc::PlanEntry* c = plan.find("c");
  REQUIRE(c);
  CHECK(c->shape == std::vector<int64_t>{2, 4});
  CHECK(c->dtype == at::kFloat);
  CHECK(c->sources == std::vector<std::string>{"a.5.w", "a.6.w"});
  REQUIRE(c->steps.size() == 2);
  CHECK(c->steps[0].op == "rename");
  CHECK(c->steps[0].pos.str() == "plan.yaml:5:5");
  CHECK(c->steps[1].op == "stack");
  CHECK(c->steps[1].pos.str() == "plan.yaml:6:5");

  const cc::PlanEntry* bias = plan.find("c_bias");
  REQUIRE(bias);
  CHECK(bias->sources.empty());
  REQUIRE(bias->steps.size() == 1);
  CHECK(bias->steps[0].pos.str() == "plan.yaml:7:5");

  CHECK_THAT(
      plan.str(),
      Catch::Contains(
          "c [2, 4] Float <- a.5.w, a.6.w via rename (plan.yaml:5:5), stack (plan.yaml:6:5)"));
  CHECK_THAT(plan.str(), Catch::Contains("other [1] Float (unchanged)"));
}

TEST_CASE("plan runs the backward direction and reports its errors like a conversion") {
  cc::Chain chain = cc::Chain::from_string(kChain, "plan.yaml");
  cc::TensorMap prime{{"c", counting({3, 4})}, {"c_bias", counting({0})}};
  cc::Options options;
  options.expert_offset = 2;
  const cc::Plan plan = chain.plan(prime, cc::Direction::to_hf, options);
  std::vector<std::string> keys;
  for (const auto& e : plan.entries) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{"a.2.w", "a.3.w", "a.4.w"});
  CHECK(plan.find("a.4.w")->sources == std::vector<std::string>{"c"});
  CHECK(plan.find("a.4.w")->steps.size() == 2);  // unstacked at line 6, renamed at line 5
  CHECK(plan.find("a.4.w")->steps[0].pos.line == 6);
  CHECK(plan.find("a.4.w")->steps[1].pos.line == 5);

  cc::TensorMap gap{{"a.0.w", counting({4})}, {"a.2.w", counting({4})}};
  try {
    chain.plan(gap, cc::Direction::to_prime);
    FAIL("no error for a gap");
  } catch (const cc::Error& e) {
    CHECK(e.pos().str() == "plan.yaml:6:5");
    CHECK_THAT(e.message(), Catch::Contains("'b.1.w' is missing"));
  }
}
