// chainconv::api::Replay: a conversion compiled once for a key set and replayed on new
// tensors, as a trainer streaming a layer at every step does; expectations by hand.
#include "api/api_support.h"

using namespace api_test;

static const std::string L3 = "model.layers.3.mlp.";

TEST_CASE("a compiled replay converts new tensors of the same key set, flat and in place") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const cc::Replay to_prime = chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime);
  CHECK(to_prime.direction() == cc::Direction::to_prime);
  CHECK(to_prime.warnings().empty());
  CHECK(to_prime.output_keys() ==
        sorted({"model.layers.3.input_layernorm.weight", L3 + "router.gate.weight",
                L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3"}));

  // Other values than it was compiled on: the tensors are the replay's inputs, not the dict's.
  cc::TensorMap step = hf_moe_layer(3, 0, 4, 5000);
  std::vector<at::Tensor> inputs;
  for (const std::string& key : to_prime.input_keys()) inputs.push_back(step.at(key));
  std::vector<at::Tensor> outputs = to_prime.run(inputs);
  REQUIRE(outputs.size() == 5);
  const auto& keys = to_prime.output_keys();
  const size_t w1 = std::find(keys.begin(), keys.end(), L3 + "experts.w1") - keys.begin();
  for (int e = 0; e < 4; ++e) CHECK(at::equal(outputs[w1][e], counting({2, 3}, 5000 + 100 * e)));
  const size_t gate = std::find(keys.begin(), keys.end(), L3 + "router.gate.weight") - keys.begin();
  CHECK(outputs[gate].is_same(step.at(L3 + "gate.weight")));  // a rename moves the handle

  to_prime.run(step);
  CHECK(keys_of(step) == sorted(keys));
  CHECK(at::equal(step.at(L3 + "experts.w3")[2], counting({2, 3}, 5220)));
}

TEST_CASE("a shard's replay unstacks into views numbered from the expert offset") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::Options options;
  options.expert_offset = 6;
  const at::Tensor w1 = counting({2, 2, 3}), w2 = counting({2, 3, 2}, 50),
                   w3 = counting({2, 2, 3}, 90);
  cc::TensorMap sd{{L3 + "experts.w1", w1}, {L3 + "experts.w2", w2}, {L3 + "experts.w3", w3}};
  const cc::Replay to_hf = chain.compile(sd, cc::Direction::to_hf, options);
  to_hf.run(sd);
  CHECK(keys_of(sd) ==
        sorted({L3 + "experts.6.gate_proj.weight", L3 + "experts.6.down_proj.weight",
                L3 + "experts.6.up_proj.weight", L3 + "experts.7.gate_proj.weight",
                L3 + "experts.7.down_proj.weight", L3 + "experts.7.up_proj.weight"}));
  const at::Tensor& row = sd.at(L3 + "experts.7.up_proj.weight");
  CHECK(at::equal(row, counting({2, 3}, 96)));
  CHECK(row.storage().data() == w3.storage().data());  // a view, not a copy
}

TEST_CASE("a replay refuses other shapes and keys with an Error and leaves the map unchanged") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const cc::Replay replay = chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime);

  cc::TensorMap bigger = hf_moe_layer(3, 0, 4);
  bigger[L3 + "experts.2.up_proj.weight"] = counting({4, 3});
  const cc::TensorMap before = bigger;
  REQUIRE_THROWS_WITH(replay.run(bigger),
                      Catch::Contains("'" + L3 + "experts.2.up_proj.weight' is [4, 3] F32") &&
                          Catch::Contains("compile a plan for this key set"));
  CHECK(keys_of(bigger) == keys_of(before));
  CHECK(bigger.at(L3 + "experts.0.up_proj.weight")
            .is_same(before.at(L3 + "experts.0.up_proj.weight")));

  cc::TensorMap five = hf_moe_layer(3, 0, 5);  // a fifth expert
  REQUIRE_THROWS_WITH(replay.run(five), Catch::Contains("experts.4.down_proj.weight'"));
  CHECK(five.size() == 17);
  REQUIRE_THROWS_WITH(replay.run(std::vector<at::Tensor>(2)), Catch::Contains("is undefined"));
}

TEST_CASE("a replay outlives the chain object it was compiled from") {
  std::optional<cc::Replay> replay;
  {
    cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
    replay.emplace(chain.compile(hf_moe_layer(1, 0, 2), cc::Direction::to_prime));
  }
  cc::TensorMap sd = hf_moe_layer(1, 0, 2);
  replay->run(sd);
  CHECK(at::equal(sd.at("model.layers.1.mlp.experts.w2")[1], counting({3, 2}, 110)));
}

TEST_CASE("Chain::convert on a key set held elsewhere gives the outputs and leaves it as it was") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  // Listed out of key order, as a hash map or a Python dict lists its entries.
  const cc::TensorMap layer = hf_moe_layer(3, 0, 4);
  std::vector<std::pair<std::string, at::Tensor>> held(layer.begin(), layer.end());
  std::reverse(held.begin(), held.end());
  const auto before = held;
  std::vector<cc::TensorRef> refs;
  for (const auto& [key, tensor] : held) refs.push_back({key, &tensor});

  const cc::Converted converted = chain.convert(refs, cc::Direction::to_prime);
  const std::vector<std::string>& inputs = converted.replay.input_keys();
  const std::vector<std::string>& outputs = converted.replay.output_keys();
  REQUIRE(converted.order.size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) CHECK(held[converted.order[i]].first == inputs[i]);
  REQUIRE(converted.outputs.size() == outputs.size());
  auto output = [&](const std::string& key) -> const at::Tensor& {
    return converted.outputs[std::find(outputs.begin(), outputs.end(), key) - outputs.begin()];
  };
  for (int e = 0; e < 4; ++e) {  // hf_moe_layer: gate_proj of expert e counts from 100 * e
    CHECK(at::equal(output(L3 + "experts.w1")[e], counting({2, 3}, 100 * e)));
    CHECK(at::equal(output(L3 + "experts.w2")[e], counting({3, 2}, 100 * e + 10)));
  }
  CHECK(output(L3 + "router.gate.weight").is_same(layer.at(L3 + "gate.weight")));
  // The norm no op touches passes through: it is its own input.
  const std::string norm = "model.layers.3.input_layernorm.weight";
  const size_t norm_out = std::find(outputs.begin(), outputs.end(), norm) - outputs.begin();
  const int32_t norm_in = converted.replay.passthrough()[norm_out];
  REQUIRE(norm_in >= 0);
  CHECK(inputs[static_cast<size_t>(norm_in)] == norm);
  for (size_t i = 0; i < held.size(); ++i) {  // nothing held changed
    CHECK(held[i].first == before[i].first);
    CHECK(held[i].second.is_same(before[i].second));
  }
  // The same key set again is the same compiled conversion.
  CHECK(chain.convert(refs, cc::Direction::to_prime).replay.id() == converted.replay.id());

  // Back to HF: the experts are views of the stacked tensors.
  std::vector<cc::TensorRef> prime_refs;
  for (size_t i = 0; i < outputs.size(); ++i)
    prime_refs.push_back({outputs[i], &converted.outputs[i]});
  const cc::Converted back = chain.convert(prime_refs, cc::Direction::to_hf);
  const auto& hf_keys = back.replay.output_keys();
  REQUIRE(sorted(hf_keys) == keys_of(layer));
  for (size_t i = 0; i < hf_keys.size(); ++i)
    CHECK(at::equal(back.outputs[i], layer.at(hf_keys[i])));
  const at::Tensor& up2 =
      back.outputs[std::find(hf_keys.begin(), hf_keys.end(), L3 + "experts.2.up_proj.weight") -
                   hf_keys.begin()];
  CHECK(up2.storage().data() == output(L3 + "experts.w3").storage().data());
}

TEST_CASE("Chain::convert refuses a key set it cannot convert with an Error") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const at::Tensor t = counting({2, 3});
  const std::string key = L3 + "experts.0.gate_proj.weight";
  const std::vector<cc::TensorRef> twice{{key, &t}, {key, &t}};
  REQUIRE_THROWS_AS(chain.convert(twice, cc::Direction::to_prime), cc::Error);
  const at::Tensor undefined;
  const std::vector<cc::TensorRef> hollow{{key, &undefined}};
  REQUIRE_THROWS_WITH(chain.convert(hollow, cc::Direction::to_prime),
                      Catch::Contains("undefined") && Catch::Contains(key));
}

TEST_CASE("a replay runs on a key set held elsewhere, in any order, and refuses any other") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const cc::Replay replay = chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime);
  const cc::TensorMap step = hf_moe_layer(3, 0, 4, 5000);
  std::vector<std::pair<std::string, at::Tensor>> held(step.begin(), step.end());
  std::reverse(held.begin(), held.end());
  auto refs_of = [](const std::vector<std::pair<std::string, at::Tensor>>& list) {
    std::vector<cc::TensorRef> refs;
    for (const auto& [key, tensor] : list) refs.push_back({key, &tensor});
    return refs;
  };
  std::vector<uint32_t> order;
  const std::vector<at::Tensor> outputs = replay.run(refs_of(held), &order);
  REQUIRE(order.size() == replay.input_keys().size());
  for (size_t i = 0; i < order.size(); ++i) CHECK(held[order[i]].first == replay.input_keys()[i]);
  const auto& keys = replay.output_keys();
  REQUIRE(outputs.size() == keys.size());
  const size_t w2 = std::find(keys.begin(), keys.end(), L3 + "experts.w2") - keys.begin();
  for (int e = 0; e < 4; ++e) CHECK(at::equal(outputs[w2][e], counting({3, 2}, 5010 + 100 * e)));

  auto error_of = [&](const std::vector<std::pair<std::string, at::Tensor>>& list) {
    try {
      replay.run(refs_of(list));
    } catch (const cc::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto extra = held;
  extra.push_back({L3 + "experts_a.weight", counting({3})});
  CHECK_THAT(error_of(extra), Catch::Contains("has '" + L3 + "experts_a.weight'"));
  auto missing = held;
  missing.erase(std::find_if(missing.begin(), missing.end(),
                             [](const auto& e) { return e.first == L3 + "gate.weight"; }));
  CHECK_THAT(error_of(missing), Catch::Contains("lacks '" + L3 + "gate.weight'"));
  auto twice = held;
  twice.push_back(held.front());
  CHECK_THAT(error_of(twice), Catch::Contains("'" + held.front().first + "' twice"));
  auto wider = held;
  for (auto& [key, tensor] : wider)
    if (key == L3 + "experts.1.up_proj.weight") tensor = counting({4, 3});
  CHECK_THAT(error_of(wider), Catch::Contains("'" + L3 + "experts.1.up_proj.weight' is [4, 3]"));
}
