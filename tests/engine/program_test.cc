// Step programs of small hand-written chains, with expectations worked out by hand: the
// steps a chain lowers to, and a program replayed on new values does the conversion it was
// lowered for, and refuses inputs it was not lowered for without touching them.
#include "aten/execute.h"
#include "program/lineage.h"
#include "program/lower.h"
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

static std::vector<std::string> input_keys(const Program& p) {
  std::vector<std::string> keys;
  for (uint32_t s = 0; s < p.inputs(); ++s) keys.push_back(p.name(s));
  return keys;
}

static std::vector<std::string> output_keys(const Program& p) {
  std::vector<std::string> keys;
  for (uint32_t s : p.outputs()) keys.push_back(p.name(s));
  return keys;
}

static std::vector<std::string> step_kinds(const Program& p) {
  std::vector<std::string> kinds;
  for (const Step& step : p.steps()) kinds.emplace_back(step_kind_name(step.kind));
  return kinds;
}

static Program compile(const Chain& chain, Direction d, const StateDict& dict,
                       const Options& options = {}) {
  return lower(chain, d, specs_of(dict), options);
}

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

TEST_CASE("a program replays its conversion on new values, both ways") {
  auto chain = chain_from(kMoeChain);
  const Program to_prime = compile(*chain, Direction::to_prime, layer0(0));
  CHECK(input_keys(to_prime) ==
        std::vector<std::string>{"l.0.attn.q.weight", "l.0.bias", "l.0.experts.0.up.weight",
                                 "l.0.experts.1.up.weight", "l.0.experts.2.up.weight",
                                 "l.0.fused.weight", "l.0.norm.weight"});
  CHECK(output_keys(to_prime) == std::vector<std::string>{"l.0.attn.wq", "l.0.bias",
                                                          "l.0.experts.w2", "l.0.experts.w3",
                                                          "l.0.gate", "l.0.norm.weight", "l.0.up"});
  // In op order: the rename a move, the stack one step, the split a view per part, the map
  // a compute, the synthetic a create.
  CHECK(step_kinds(to_prime) ==
        std::vector<std::string>{"move", "stack", "view", "view", "compute", "create"});

  StateDict sd = layer0(1000);  // other values than the program was lowered on
  run_program(to_prime, sd);
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
  const Program to_hf = compile(*chain, Direction::to_hf, prime_meta);
  // Backward in reverse op order: the synthetic a drop, the map a compute, the split one
  // concatenation, the stack a view per row, the rename a move.
  CHECK(step_kinds(to_hf) ==
        std::vector<std::string>{"drop", "compute", "concat", "view", "view", "view", "move"});
  run_program(to_hf, sd);
  require_same(sd, layer0(1000));
}

TEST_CASE("the ATen executor takes and gives tensors in the program's key order") {
  auto chain = chain_from(kMoeChain);
  const Program plan = compile(*chain, Direction::to_prime, layer0(0));
  std::vector<at::Tensor> inputs;
  for (const auto& [key, item] : layer0(500)) inputs.push_back(item.tensor);
  std::vector<at::Tensor> outputs = execute(plan, std::move(inputs));
  REQUIRE(outputs.size() == plan.outputs().size());
  CHECK(output_keys(plan)[3] == "l.0.experts.w3");
  CHECK(at::equal(outputs[3], at::stack({counting({2, 3}, 510), counting({2, 3}, 520),
                                         counting({2, 3}, 530)})));
  CHECK(output_keys(plan)[1] == "l.0.bias");
  CHECK(at::equal(outputs[1], -counting({3}, 700)));
}

TEST_CASE("lowering says which of its inputs each input slot is") {
  auto chain = chain_from(kMoeChain);
  // Listed out of key order, as a hash map lists them.
  const std::vector<std::string> listed{"l.0.norm.weight", up(0, 2), "l.0.attn.q.weight", up(0, 0),
                                        "l.0.bias",        up(0, 1), "l.0.fused.weight"};
  std::vector<TensorSpec> specs;
  for (const std::string& key : listed) specs.push_back({key, Dims{2, 2}, &dtype_named("F32")});
  std::vector<uint32_t> order;
  const Program p = lower(*chain, Direction::to_prime, specs, {}, &order);
  // Key order: attn.q, bias, experts.0, experts.1, experts.2, fused, norm.
  CHECK(order == std::vector<uint32_t>{2, 4, 3, 5, 1, 6, 0});
  for (uint32_t s = 0; s < p.inputs(); ++s) CHECK(p.name(s) == listed[order[s]]);
}

TEST_CASE("lowering refuses a key listed twice, wherever the two are listed") {
  auto chain = chain_from(kMoeChain);
  // Short keys (held inline by std::string) and long ones (on the heap) alike.
  for (const std::string& twice : {std::string("l.0.bias"), up(0, 1)}) {
    const std::vector<std::string> listed{twice, up(0, 0), "l.0.norm.weight", twice};
    std::vector<TensorSpec> specs;
    for (const std::string& key : listed) specs.push_back({key, Dims{2, 2}, &dtype_named("F32")});
    CHECK_THROWS_WITH(lower(*chain, Direction::to_prime, specs),
                      "key '" + twice + "' appears twice");
  }
}

TEST_CASE("the ATen executor reads borrowed inputs and leaves them as they were") {
  auto chain = chain_from(kMoeChain);
  const Program plan = compile(*chain, Direction::to_prime, layer0(0));
  std::vector<at::Tensor> held;
  for (const auto& [key, item] : layer0(500)) held.push_back(item.tensor);
  std::vector<const at::Tensor*> inputs;
  std::vector<size_t> uses;
  for (const at::Tensor& t : held) {
    inputs.push_back(&t);
    uses.push_back(t.use_count());
  }
  std::vector<at::Tensor> outputs = execute(plan, inputs);
  REQUIRE(outputs.size() == plan.outputs().size());
  CHECK(output_keys(plan)[3] == "l.0.experts.w3");
  CHECK(at::equal(outputs[3], at::stack({counting({2, 3}, 510), counting({2, 3}, 520),
                                         counting({2, 3}, 530)})));
  // Every input is still the caller's, with its values; a renamed one is shared, not copied.
  for (size_t i = 0; i < held.size(); ++i) {
    REQUIRE(held[i].defined());
    CHECK(at::equal(held[i], layer0(500).at(plan.name(static_cast<uint32_t>(i)))));
  }
  const std::vector<std::string> ins = input_keys(plan), outs = output_keys(plan);
  const auto q =
      static_cast<size_t>(std::find(ins.begin(), ins.end(), "l.0.attn.q.weight") - ins.begin());
  const auto wq =
      static_cast<size_t>(std::find(outs.begin(), outs.end(), "l.0.attn.wq") - outs.begin());
  REQUIRE(q < ins.size());
  REQUIRE(wq < outs.size());
  CHECK(outputs[wq].data_ptr() == held[q].data_ptr());
  CHECK(held[q].use_count() == uses[q] + 1);  // the output's handle, and nothing else
  outputs.clear();
  for (size_t i = 0; i < held.size(); ++i) CHECK(held[i].use_count() == uses[i]);

  // An input list of the wrong length is refused before any step runs.
  inputs.pop_back();
  CHECK_THROWS_WITH(execute(plan, inputs), Catch::Contains("inputs for a program of"));
}

TEST_CASE("a program of renames only moves handles") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: renames
ops:
  - rename: {from: "a.{n}.w", to: "b.{n}.w"}
  - prefix_rename: {from: "b.", to: "c."}
)");
  StateDict sd{{"a.0.w", counting({2})}, {"a.1.w", counting({2}, 2)}, {"z", counting({1})}};
  const Program plan = compile(*chain, Direction::to_prime, sd);
  CHECK(step_kinds(plan) == std::vector<std::string>{"move", "move", "move", "move"});
  const at::Tensor a1 = sd.at("a.1.w");
  run_program(plan, sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"c.0.w", "c.1.w", "z"});
  CHECK(sd.at("c.1.w").data_ptr() == a1.data_ptr());  // moved, not copied
}

TEST_CASE("a shard's program numbers experts from the offset") {
  auto chain = chain_from(kMoeChain);
  Options shard;
  shard.expert_offset = 4;
  StateDict prime{{"l.2.experts.w3", counting({2, 1, 3})}};
  const Program plan = compile(*chain, Direction::to_hf, prime, shard);
  CHECK(output_keys(plan) == std::vector<std::string>{up(2, 4), up(2, 5)});
  run_program(plan, prime);
  CHECK(at::equal(prime.at(up(2, 5)), counting({1, 3}, 3)));
}

TEST_CASE("a program refuses inputs it was not lowered for, and leaves them as they were") {
  auto chain = chain_from(kMoeChain);
  const Program plan = compile(*chain, Direction::to_prime, layer0(0));

  StateDict wrong_shape = layer0(0);
  wrong_shape.set(up(0, 1), Item{counting({2, 4}), {}});
  REQUIRE_THROWS_WITH(
      run_program(plan, wrong_shape),
      Catch::Contains("'" + up(0, 1) + "' is [2, 4] F32 but the program was made for [2, 3] F32"));
  require_same(wrong_shape, [] {
    StateDict expected = layer0(0);
    expected.set(up(0, 1), Item{counting({2, 4}), {}});
    return expected;
  }());

  StateDict wrong_dtype = layer0(0);
  wrong_dtype.set("l.0.bias", Item{counting({3}, 0, at::kDouble), {}});
  REQUIRE_THROWS_WITH(run_program(plan, wrong_dtype), Catch::Contains("'l.0.bias' is [3] F64"));

  StateDict extra = layer0(0);
  extra.insert("l.0.extra", counting({1}));
  REQUIRE_THROWS_WITH(run_program(plan, extra),
                      Catch::Contains("the dict has 'l.0.extra' where the program expects"));
  CHECK(extra.size() == 8);

  StateDict missing = layer0(0);
  missing.erase("l.0.norm.weight");
  REQUIRE_THROWS_WITH(run_program(plan, missing),
                      Catch::Contains("the dict lacks 'l.0.norm.weight'"));
}

TEST_CASE("lowering fails as the run would, at the op's position") {
  auto chain = chain_from(kMoeChain, "moe.yaml");
  StateDict gap = layer0(0);
  gap.erase(up(0, 1));
  REQUIRE_THROWS_WITH(compile(*chain, Direction::to_prime, gap),
                      Catch::Contains("moe.yaml:6:") && Catch::Contains("is missing"));
}

TEST_CASE("the steps an output needs are its own way back, nothing else") {
  auto chain = chain_from(kMoeChain);
  const Program plan = compile(*chain, Direction::to_prime, layer0(0));
  // Outputs in key order: l.0.attn.wq, l.0.bias, l.0.experts.w2, l.0.experts.w3, l.0.gate, ...
  REQUIRE(output_keys(plan)[1] == "l.0.bias");
  const std::vector<bool> bias = steps_for(plan, {1});
  // Steps: move, stack, view, view, compute, create; the bias is the compute alone.
  CHECK(bias == std::vector<bool>{false, false, false, false, true, false});
  // The synthetic w2 is created like w3, on w3's device: its create step and w3's stack.
  CHECK(steps_for(plan, {2}) == std::vector<bool>{false, true, false, false, false, true});
  CHECK(steps_for(plan, {3, 4}) == std::vector<bool>{false, true, true, false, false, false});
}
