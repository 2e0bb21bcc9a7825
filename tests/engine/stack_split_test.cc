// stack / unstack with expert offsets, and split / concat, with hand-written expectations.
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

static const char* kStackChain = R"(version: 1
model_types: [test]
description: stack test
ops:
  - stack: {from: "l.{layer}.experts.{expert}.gate_proj.weight", to: "l.{layer}.experts.w1"}
)";

static std::string expert_key(int layer, int expert) {
  return "l." + std::to_string(layer) + ".experts." + std::to_string(expert) + ".gate_proj.weight";
}

TEST_CASE("stack orders experts numerically and unstacks into views") {
  auto chain = chain_from(kStackChain);
  StateDict sd;
  std::vector<at::Tensor> experts;
  for (int e = 0; e < 12; ++e) {  // 12 experts: "10" and "11" sort after "2" numerically
    experts.push_back(counting({2, 3}, 100 * e));
    sd.insert(expert_key(0, e), experts.back());
  }
  to_prime(*chain, sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"l.0.experts.w1"});
  const at::Tensor w1 = sd.at("l.0.experts.w1");  // a handle: to_hf below removes the key
  REQUIRE(w1.sizes() == at::IntArrayRef{12, 2, 3});
  for (int e = 0; e < 12; ++e) CHECK(at::equal(w1[e], experts[e]));

  to_hf(*chain, sd);
  REQUIRE(sd.size() == 12);
  for (int e = 0; e < 12; ++e) {
    const at::Tensor& t = sd.at(expert_key(0, e));
    CHECK(at::equal(t, experts[e]));
    // Views of the stacked tensor: same storage, no copy.
    CHECK(t.storage().data() == w1.storage().data());
  }
}

TEST_CASE("a shard's experts stack from the offset - and unstack back to global ids") {
  auto chain = chain_from(kStackChain);
  Options shard;
  shard.expert_offset = 2;
  at::Tensor e2 = counting({2, 3}, 200), e3 = counting({2, 3}, 300);
  StateDict sd{{expert_key(1, 2), e2}, {expert_key(1, 3), e3}};
  to_prime(*chain, sd, shard);
  REQUIRE(sd.keys() == std::vector<std::string>{"l.1.experts.w1"});
  CHECK(at::equal(sd.at("l.1.experts.w1"), at::stack({e2, e3})));

  // Backward: local row r becomes global expert offset + r.
  StateDict prime{{"l.1.experts.w1", at::stack({e2, e3})}};
  to_hf(*chain, prime, shard);
  require_same(prime, StateDict{{expert_key(1, 2), e2}, {expert_key(1, 3), e3}});
}

TEST_CASE("a gap in expert ids is an error naming the missing key") {
  auto chain = chain_from(kStackChain);
  StateDict sd{{expert_key(0, 0), counting({2})},
               {expert_key(0, 1), counting({2})},
               {expert_key(0, 3), counting({2})}};
  CHECK_THROWS_WITH(to_prime(*chain, sd),
                    Catch::Contains("test.yaml:5:5") &&
                        Catch::Contains("key 'l.0.experts.2.gate_proj.weight' is missing"));
  // Nothing was consumed: the input is intact for the caller.
  CHECK(sd.size() == 3);

  SECTION("experts below the shard's offset are refused, not silently renumbered") {
    Options shard;
    shard.expert_offset = 2;
    StateDict low{{expert_key(0, 1), counting({2})}, {expert_key(0, 2), counting({2})}};
    CHECK_THROWS_WITH(to_prime(*chain, low, shard), Catch::Contains("below the expert offset 2"));
  }
  SECTION("a shard that starts late misses its first expert") {
    Options shard;
    shard.expert_offset = 2;
    StateDict late{{expert_key(0, 3), counting({2})}};
    CHECK_THROWS_WITH(to_prime(*chain, late, shard),
                      Catch::Contains("'l.0.experts.2.gate_proj.weight' is missing"));
  }
}

TEST_CASE("stacking experts of different dtypes is an error - not a cast") {
  auto chain = chain_from(kStackChain);
  StateDict sd{{expert_key(0, 0), counting({2}, 0, at::kBFloat16)},
               {expert_key(0, 1), counting({2}, 0, at::kFloat)}};
  CHECK_THROWS_WITH(to_prime(*chain, sd),
                    Catch::Contains("'l.0.experts.1.gate_proj.weight' has dtype F32") &&
                        Catch::Contains("BF16") && Catch::Contains("no silent casts"));
}

TEST_CASE("bytes-only dtypes stack and unstack unchanged") {
  auto chain = chain_from(kStackChain);
  StateDict sd;
  at::Tensor a = at::arange(6, at::kByte).reshape({2, 3}),
             b = at::arange(6, 12, at::kByte).reshape({2, 3});
  sd.insert(expert_key(0, 0), Item{a, "F8_E4M3"});
  sd.insert(expert_key(0, 1), Item{b, "F8_E4M3"});
  to_prime(*chain, sd);
  CHECK(sd.item("l.0.experts.w1").opaque_dtype == "F8_E4M3");
  to_hf(*chain, sd);
  CHECK(sd.item(expert_key(0, 1)).opaque_dtype == "F8_E4M3");
  CHECK(at::equal(sd.at(expert_key(0, 1)), b));
}

TEST_CASE("unstacked rows land among the keys already there - and never on one") {
  auto chain = chain_from(kStackChain);
  // Each expert's other projections sit between its rows in key order ("...0.down_proj",
  // "...0.gate_proj", "...0.up_proj", "...1.down_proj", ...), and "10" sorts before "2".
  StateDict prime{{"l.0.experts.w1", counting({12, 2})}};
  for (int e = 0; e < 12; ++e)
    for (const char* other : {"down_proj", "up_proj", "gate_proj.bias"})
      prime.insert("l.0.experts." + std::to_string(e) + "." + other, counting({1}, e));
  StateDict hf = prime;
  to_hf(*chain, hf);
  REQUIRE(hf.size() == 12 * 4);
  for (int e = 0; e < 12; ++e)
    CHECK(at::equal(hf.at(expert_key(0, e)), prime.at("l.0.experts.w1")[e]));

  StateDict taken = prime;
  taken.insert(expert_key(0, 7), counting({2}));
  CHECK_THROWS_WITH(to_hf(*chain, taken),
                    Catch::Contains("test.yaml:5:5") &&
                        Catch::Contains("overwrite existing key '" + expert_key(0, 7) + "'"));
  CHECK(taken.size() == prime.size() + 1);  // the caller's dict is as it was
}

static const char* kSplitChain = R"(version: 1
model_types: [test]
description: split test
ops:
  - split: {from: "l.{layer}.gate_up", into: ["l.{layer}.w1", "l.{layer}.w3"], dim: 1}
  - split: {from: "qkv", into: [q, k, v], dim: 0, sizes: [4, 2, 2]}
)";

TEST_CASE("split into equal or declared parts - as views - backward concatenates") {
  auto chain = chain_from(kSplitChain);
  at::Tensor gate_up = counting({3, 8, 5}), qkv = counting({8, 2}, 1000);
  StateDict sd{{"l.0.gate_up", gate_up}, {"qkv", qkv}};
  to_prime(*chain, sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"k", "l.0.w1", "l.0.w3", "q", "v"});
  CHECK(at::equal(sd.at("l.0.w1"), gate_up.slice(1, 0, 4)));
  CHECK(at::equal(sd.at("l.0.w3"), gate_up.slice(1, 4, 8)));
  CHECK(sd.at("l.0.w3").storage().data() == gate_up.storage().data());
  CHECK(at::equal(sd.at("q"), qkv.slice(0, 0, 4)));
  CHECK(at::equal(sd.at("v"), qkv.slice(0, 6, 8)));
  to_hf(*chain, sd);
  require_same(sd, StateDict{{"l.0.gate_up", gate_up}, {"qkv", qkv}});
}

TEST_CASE("split errors name the tensor") {
  auto chain = chain_from(kSplitChain);
  StateDict odd{{"l.0.gate_up", counting({3, 7, 5})}};
  CHECK_THROWS_WITH(to_prime(*chain, odd), Catch::Contains("'l.0.gate_up' has size 7") &&
                                               Catch::Contains("not divisible"));
  StateDict half{{"l.0.w1", counting({3, 4, 5})}};
  CHECK_THROWS_WITH(to_hf(*chain, half), Catch::Contains("part 'l.0.w3' is missing"));
}
