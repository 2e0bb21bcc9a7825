// Each simple op, both directions, with expected dicts written by hand.
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

static std::string chain_of(const std::string& ops) {
  return "version: 1\nmodel_types: [test]\ndescription: test chain\nops:\n" + ops;
}

TEST_CASE("rename moves matching keys and back - others pass through") {
  auto chain = chain_from(chain_of(R"(
  - rename: {from: "model.layers.{layer}.mlp.gate.weight", to: "model.layers.{layer}.mlp.router.gate.weight"}
)"));
  at::Tensor g0 = counting({2, 3}), g5 = counting({2, 3}, 100), scale = counting({1});
  StateDict sd{{"model.layers.0.mlp.gate.weight", g0},
               {"model.layers.5.mlp.gate.weight", g5},
               {"model.layers.5.mlp.gate.weight_scale_inv", scale},
               {"lm_head.weight", scale}};
  to_prime(*chain, sd);
  StateDict expected{{"model.layers.0.mlp.router.gate.weight", g0},
                     {"model.layers.5.mlp.router.gate.weight", g5},
                     {"model.layers.5.mlp.gate.weight_scale_inv", scale},
                     {"lm_head.weight", scale}};
  require_same(sd, expected);
  // A rename moves the handle: same storage, no copy.
  CHECK(sd.at("model.layers.0.mlp.router.gate.weight").data_ptr() == g0.data_ptr());

  to_hf(*chain, sd);
  require_same(sd, StateDict{{"model.layers.0.mlp.gate.weight", g0},
                             {"model.layers.5.mlp.gate.weight", g5},
                             {"model.layers.5.mlp.gate.weight_scale_inv", scale},
                             {"lm_head.weight", scale}});
}

TEST_CASE("an op whose keys are absent does nothing") {
  auto chain = chain_from(chain_of(R"(
  - rename: {from: "a.{layer}.x", to: "a.{layer}.y"}
  - stack: {from: "e.{expert}.w", to: "e.w"}
  - split: {from: "f.w", into: [f.a, f.b]}
  - drop: {prefix: "mtp."}
)"));
  StateDict sd{{"other", counting({2})}};
  to_prime(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"other"});
  to_hf(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"other"});
}

TEST_CASE("first present alternate wins - the other is left untouched with a warning") {
  auto chain = chain_from(chain_of(R"(
  - rename:
      from: ["l.{layer}.experts.bias", "l.{layer}.gate.bias"]
      to: "l.{layer}.expert_bias"
)"));
  at::Tensor canonical = counting({4}), alternate = counting({4}, 10);

  SECTION("both present") {
    StateDict sd{{"l.0.experts.bias", canonical}, {"l.0.gate.bias", alternate}};
    auto warnings = to_prime(*chain, sd);
    require_same(sd, StateDict{{"l.0.expert_bias", canonical}, {"l.0.gate.bias", alternate}});
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0].str(), Catch::Contains("test.yaml:6:5") &&
                                      Catch::Contains("'l.0.experts.bias' wins") &&
                                      Catch::Contains("'l.0.gate.bias' is left untouched"));
    Options strict;
    strict.strict = true;
    StateDict again{{"l.0.experts.bias", canonical}, {"l.0.gate.bias", alternate}};
    CHECK_THROWS_WITH(to_prime(*chain, again, strict), Catch::Contains("strict"));
  }
  SECTION("only the alternate present, order of keys irrelevant") {
    StateDict sd{{"l.0.gate.bias", alternate}, {"l.1.experts.bias", canonical}};
    CHECK(to_prime(*chain, sd).empty());
    require_same(sd, StateDict{{"l.0.expert_bias", alternate}, {"l.1.expert_bias", canonical}});
    // Backward always emits the canonical name.
    to_hf(*chain, sd);
    require_same(sd, StateDict{{"l.0.experts.bias", alternate}, {"l.1.experts.bias", canonical}});
  }
}

TEST_CASE("prefix_rename swaps prefixes and keeps the rest") {
  auto chain = chain_from(chain_of(R"(
  - prefix_rename: {from: "backbone.", to: "model."}
  - prefix_rename: {from: "model.layers.{layer}.mixer.", to: "model.layers.{layer}.mamba."}
)"));
  at::Tensor a = counting({2}), b = counting({3}), c = counting({1});
  StateDict sd{
      {"backbone.layers.0.mixer.A_log", a}, {"backbone.norm_f.weight", b}, {"lm_head.weight", c}};
  to_prime(*chain, sd);
  require_same(sd, StateDict{{"model.layers.0.mamba.A_log", a},
                             {"model.norm_f.weight", b},
                             {"lm_head.weight", c}});
  to_hf(*chain, sd);
  require_same(sd, StateDict{{"backbone.layers.0.mixer.A_log", a},
                             {"backbone.norm_f.weight", b},
                             {"lm_head.weight", c}});

  // An HF dict that already uses the prime prefix converts too.
  StateDict already{{"model.layers.0.mixer.A_log", a}};
  to_prime(*chain, already);
  require_same(already, StateDict{{"model.layers.0.mamba.A_log", a}});
}

TEST_CASE("a placeholder typed differently on the two sides of a rename is an error") {
  // Backward would read b.{part} as digits and never find 'b.weight'.
  CHECK_THROWS_WITH(chain_from(chain_of(R"(
  - rename: {from: "a.{part:segment}", to: "b.{part}"}
)")),
                    Catch::Contains("test.yaml:6:44") &&
                        Catch::Contains("typed {name:segment} in 'a.{part:segment}' but {name}"));
}

TEST_CASE("renumber counts the keys from start on from zero under a new prefix - and back") {
  // start = 3 (from the config): layers 0..2 stay, layer 3 becomes mtp_layers.0, 4 becomes 1.
  auto chain = chain_from(chain_of(R"(
  - renumber: {from: "layers.{layer}.", to: "mtp_layers.{layer}.", start: "${config.num_hidden_layers}"}
)"));
  Options options;
  options.config = R"({"num_hidden_layers": 3})";
  at::Tensor a = counting({2}), b = counting({3}), c = counting({1}), d = counting({4});
  StateDict sd{{"layers.2.attention.wo.weight", a},
               {"layers.3.enorm.weight", b},
               {"layers.3.moe.router.gate.weight", c},
               {"layers.4.enorm.weight", d},
               {"norm.weight", a}};
  to_prime(*chain, sd, options);
  require_same(sd, StateDict{{"layers.2.attention.wo.weight", a},
                             {"mtp_layers.0.enorm.weight", b},
                             {"mtp_layers.0.moe.router.gate.weight", c},
                             {"mtp_layers.1.enorm.weight", d},
                             {"norm.weight", a}});
  to_hf(*chain, sd, options);
  require_same(sd, StateDict{{"layers.2.attention.wo.weight", a},
                             {"layers.3.enorm.weight", b},
                             {"layers.3.moe.router.gate.weight", c},
                             {"layers.4.enorm.weight", d},
                             {"norm.weight", a}});

  // An index written with a leading zero would not come back as written.
  StateDict padded{{"layers.03.enorm.weight", b}};
  CHECK_THROWS_WITH(to_prime(*chain, padded, options),
                    Catch::Contains("test.yaml:6:5") && Catch::Contains("leading zero"));
  // Backward onto a key that is present is refused, as every op refuses to overwrite.
  StateDict clash{{"mtp_layers.0.enorm.weight", b}, {"layers.3.enorm.weight", d}};
  CHECK_THROWS_WITH(to_hf(*chain, clash, options), Catch::Contains("layers.3.enorm.weight"));
}

TEST_CASE("renumber needs its index named when a prefix has two") {
  CHECK_THROWS_WITH(chain_from(chain_of(R"(
  - renumber: {from: "l.{layer}.e.{expert}.", to: "m.{layer}.e.{expert}.", start: 1}
)")),
                    Catch::Contains("name the one to renumber with 'index'"));
  auto chain = chain_from(chain_of(R"(
  - renumber: {from: "l.{layer}.e.{expert}.", to: "m.{layer}.e.{expert}.", start: 2, index: expert}
)"));
  at::Tensor a = counting({2}), b = counting({3});
  StateDict sd{{"l.0.e.1.w", a}, {"l.0.e.2.w", b}};
  to_prime(*chain, sd);
  require_same(sd, StateDict{{"l.0.e.1.w", a}, {"m.0.e.0.w", b}});
  to_hf(*chain, sd);
  require_same(sd, StateDict{{"l.0.e.1.w", a}, {"l.0.e.2.w", b}});
}

TEST_CASE("drop removes keys by name or prefix - in the directions asked") {
  auto chain = chain_from(chain_of(R"(
  - drop: {keys: "l.{layer}.tokens_per_expert"}
  - drop: {prefix: "mtp.", when: to_prime}
  - drop: {keys: ["only_hf_side"], when: to_hf}
)"));
  StateDict sd{{"l.0.tokens_per_expert", counting({4})},
               {"mtp.layers.0.w", counting({1})},
               {"only_hf_side", counting({1})},
               {"keep", counting({1})}};
  to_prime(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"keep", "only_hf_side"});
  StateDict prime{{"l.3.tokens_per_expert", counting({4})},
                  {"mtp.x", counting({1})},
                  {"only_hf_side", counting({1})}};
  to_hf(*chain, prime);
  CHECK(prime.keys() == std::vector<std::string>{"mtp.x"});
}

TEST_CASE("map applies declared transforms - x - min(x) is exact in f32 and bf16") {
  auto chain = chain_from(chain_of(R"(
  - map: {key: "l.{layer}.bias", forward: subtract_min, backward: identity, lossy: "the shift is not undone"}
)"));
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor bias = at::tensor({3.0, -2.0, 5.5, 1.0}).to(dtype);
    StateDict sd{{"l.0.bias", bias}};
    to_prime(*chain, sd);
    at::Tensor expected = at::tensor({5.0, 0.0, 7.5, 3.0}).to(dtype);
    CHECK(sd.at("l.0.bias").scalar_type() == dtype);
    CHECK(at::equal(sd.at("l.0.bias"), expected));
    to_hf(*chain, sd);  // identity backward: the shifted values stay
    CHECK(at::equal(sd.at("l.0.bias"), expected));
  }
  auto negate = chain_from(chain_of("  - map: {key: w, forward: negate, backward: negate}\n"));
  StateDict sd{{"w", counting({3}, 1)}};
  to_prime(*negate, sd);
  CHECK(at::equal(sd.at("w"), -counting({3}, 1)));
  to_hf(*negate, sd);
  CHECK(at::equal(sd.at("w"), counting({3}, 1)));
}

TEST_CASE("map refuses bytes-only dtypes") {
  auto chain = chain_from(chain_of("  - map: {key: w, forward: negate, backward: negate}\n"));
  StateDict sd;
  sd.insert("w", Item{at::zeros({4}, at::kByte), "F8_E4M3"});
  CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("F8_E4M3") && Catch::Contains("'w'"));
}

TEST_CASE("synthetic creates an empty tensor like its sibling and backward drops it") {
  auto chain = chain_from(chain_of(R"(
  - synthetic: {key: "l.{layer}.experts.w3", like: "l.{layer}.experts.w1", shape: [0]}
)"));
  StateDict sd{{"l.0.experts.w1", counting({2, 3, 4}, 0, at::kBFloat16)},
               {"l.1.other", counting({1})}};
  to_prime(*chain, sd);
  REQUIRE(sd.contains("l.0.experts.w3"));
  CHECK(sd.at("l.0.experts.w3").sizes() == at::IntArrayRef{0});
  CHECK(sd.at("l.0.experts.w3").scalar_type() == at::kBFloat16);
  CHECK_FALSE(sd.contains("l.1.experts.w3"));
  CHECK(to_hf(*chain, sd).empty());
  CHECK(sd.keys() == std::vector<std::string>{"l.0.experts.w1", "l.1.other"});

  StateDict holding_data{{"l.0.experts.w3", counting({2, 2})}};
  auto warnings = to_hf(*chain, holding_data);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0].message, Catch::Contains("holds data"));
}

TEST_CASE("squeeze_leading acts on backward only - on leading singletons of the given rank") {
  auto chain = chain_from(chain_of("  - squeeze_leading: {key: \"s.{layer}.w1\", ndim: 3}\n"));
  at::Tensor lead = counting({1, 2, 3}), flat = counting({2, 3}), wide = counting({2, 2, 3});
  StateDict sd{{"s.0.w1", lead}, {"s.1.w1", flat}, {"s.2.w1", wide}};
  to_prime(*chain, sd);
  CHECK(sd.at("s.0.w1").sizes() == at::IntArrayRef{1, 2, 3});
  to_hf(*chain, sd);
  CHECK(sd.at("s.0.w1").sizes() == at::IntArrayRef{2, 3});
  CHECK(at::equal(sd.at("s.0.w1"), lead[0]));
  CHECK(sd.at("s.1.w1").sizes() == at::IntArrayRef{2, 3});
  CHECK(sd.at("s.2.w1").sizes() == at::IntArrayRef{2, 2, 3});
}

TEST_CASE("an op never overwrites an existing key") {
  auto chain = chain_from(chain_of("  - rename: {from: a, to: b}\n"));
  StateDict sd{{"a", counting({1})}, {"b", counting({1}, 5)}};
  CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("test.yaml:5:5") &&
                                              Catch::Contains("overwrite existing key 'b'"));
}
