// Chain parameters: declarations, user values over defaults, config.json values, integer
// expressions in op arguments, the `param` predicate, and their errors (positions included).
// Expected sizes are worked out by hand in the comments.
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// Line 11 holds the split; its second size starts at col 108.
const char* kSplitChain = R"(version: 1
model_types: [test]
description: params test
params:
  first: {type: int, default: 2, doc: rows of the first part}
  heads: {type: int, default: "${config.text_config.num_attention_heads}", doc: from config}
  block: {type: int_list, default: [4, 8], doc: a block size}
  fused: {type: bool, default: false, doc: a switch}
  layout: {type: string, values: [a, b], default: a, doc: a choice}
ops:
  - split: {from: "x.{i}.w", into: ["x.{i}.a", "x.{i}.b"], dim: "${block}[0] / 4 - 1", sizes: ["${first}", "${heads} * 2 - ${first}"]}
)";

Options with(std::map<std::string, std::string> params, std::string config = "") {
  Options o;
  o.params = std::move(params);
  o.config = std::move(config);
  return o;
}

const std::string kConfig = R"({"text_config": {"num_attention_heads": 3}})";

}  // namespace

TEST_CASE("integer expressions read parameters, user values and nested config values") {
  auto chain = chain_from(kSplitChain);
  REQUIRE(chain->params.decls.size() == 5);
  // heads = 3 from text_config: sizes [2, 3 * 2 - 2 = 4] along dim 4 / 4 - 1 = 0.
  StateDict sd{{"x.0.w", counting({6, 2})}};
  const at::Tensor whole = sd.at("x.0.w");
  to_prime(*chain, sd, with({}, kConfig));
  REQUIRE(sd.keys() == std::vector<std::string>{"x.0.a", "x.0.b"});
  CHECK(at::equal(sd.at("x.0.a"), whole.narrow(0, 0, 2)));
  CHECK(at::equal(sd.at("x.0.b"), whole.narrow(0, 2, 4)));

  // The user's values win over the defaults (and no config is needed then): first = 1,
  // heads = 2 gives [1, 3]; block = 8,8 gives dim 8 / 4 - 1 = 1.
  StateDict wide{{"x.0.w", counting({2, 4})}};
  const at::Tensor w = wide.at("x.0.w");
  to_prime(*chain, wide, with({{"first", "1"}, {"heads", "2"}, {"block", "8,8"}}));
  CHECK(at::equal(wide.at("x.0.a"), w.narrow(1, 0, 1)));
  CHECK(at::equal(wide.at("x.0.b"), w.narrow(1, 1, 3)));
  to_hf(*chain, wide, with({{"first", "1"}, {"heads", "2"}, {"block", "8,8"}}));
  CHECK(at::equal(wide.at("x.0.w"), w));
}

TEST_CASE("a config field a chain reads that is missing is an error at the op naming it") {
  auto chain = chain_from(kSplitChain);
  StateDict sd{{"x.0.w", counting({6, 2})}};
  try {
    to_prime(*chain, sd, with({}, R"({"num_attention_heads": 3})"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.pos().str() == "test.yaml:11:108");
    CHECK_THAT(e.message(), Catch::Contains("config.json has no field "
                                            "'text_config.num_attention_heads'"));
    CHECK_THAT(e.message(), Catch::Contains("the default of parameter 'heads'"));
  }
  // No config at all: says so, and how to give one.
  CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("no config was given"));
  // A key set the op does not touch needs no value.
  StateDict other{{"y", counting({2})}};
  CHECK_NOTHROW(to_prime(*chain, other));
}

TEST_CASE("user values are checked against the declarations") {
  auto chain = chain_from(kSplitChain);
  StateDict sd{{"x.0.w", counting({6, 2})}};
  CHECK_THROWS_WITH(to_prime(*chain, sd, with({{"nope", "1"}})),
                    Catch::Contains("the chain has no parameter 'nope' (its parameters: first, "
                                    "heads, block, fused, layout)"));
  CHECK_THROWS_WITH(to_prime(*chain, sd, with({{"first", "two"}})),
                    Catch::Contains("parameter 'first' (declared at test.yaml:5:3) is int: "
                                    "expected an integer, found 'two'"));
  CHECK_THROWS_WITH(to_prime(*chain, sd, with({{"fused", "yes"}})),
                    Catch::Contains("expected true or false"));
  CHECK_THROWS_WITH(to_prime(*chain, sd, with({{"layout", "c"}})),
                    Catch::Contains("expected one of: a, b, found 'c'"));
  CHECK_THROWS_WITH(to_prime(*chain, sd, with({{"block", "4,x"}})),
                    Catch::Contains("integers separated by commas"));
  // Nothing changed on failure.
  CHECK(sd.keys() == std::vector<std::string>{"x.0.w"});
}

TEST_CASE("expression arithmetic: precedence, parentheses, floor division and modulo") {
  auto sizes = [](const std::string& a, const std::string& b, int64_t rows) {
    const std::string yaml = std::string(R"(version: 1
model_types: [test]
description: arithmetic
params:
  n: {type: int, default: 7, doc: seven}
ops:
  - split: {from: w, into: [a, b], sizes: [")") +
                             a + "\", \"" + b + "\"]}\n";
    auto chain = chain_from(yaml);
    StateDict sd{{"w", counting({rows})}};
    to_prime(*chain, sd);
    return std::make_pair(sd.at("a").size(0), sd.at("b").size(0));
  };
  // 1 + 2 * 3 = 7; (1 + 2) * 3 = 9
  CHECK(sizes("1 + 2 * 3", "(1 + 2) * 3", 16) == std::make_pair<int64_t, int64_t>(7, 9));
  // -7 / 2 = -4 (floor), so 0 - -7 / 2 = 4; 7 % -3 = -2 (floor), so 7 % -3 + 3 = 1
  CHECK(sizes("0 - -${n} / 2", "${n} % -3 + 3", 5) == std::make_pair<int64_t, int64_t>(4, 1));
  // 7 / 2 = 3; 7 % 4 = 3
  CHECK(sizes("${n} / 2", "${n} % 4", 6) == std::make_pair<int64_t, int64_t>(3, 3));
}

TEST_CASE("evaluation errors: division by zero, an index out of range, overflow") {
  auto fails = [](const std::string& size, const std::string& message) {
    auto chain = chain_from(std::string(R"(version: 1
model_types: [test]
description: arithmetic
params:
  z: {type: int, default: 0, doc: zero}
  l: {type: int_list, default: [1], doc: one entry}
ops:
  - split: {from: w, into: [a, b], sizes: [1, ")") +
                            size + "\"]}\n");
    StateDict sd{{"w", counting({4})}};
    CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains(message));
  };
  fails("4 / ${z}", "division by zero");
  fails("${l}[1]", "'l' has 1 entries, no [1]");
  fails("9223372036854775807 + ${l}[0]", "integer overflow");
}

TEST_CASE("the param predicate chooses a branch, the same way in both directions") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: param predicate
params:
  flip: {type: bool, default: false, doc: take the other name}
  side: {type: string, values: [left, right], default: left, doc: a choice}
ops:
  - if: {param: flip}
    then:
      - rename: {from: a, to: flipped}
    else:
      - rename: {from: a, to: plain}
  - if: {param: {name: side, is: right}}
    then:
      - rename: {from: b, to: b_right}
)");
  const at::Tensor a = counting({2}), b = counting({3});
  StateDict plain{{"a", a}, {"b", b}};
  to_prime(*chain, plain);
  CHECK(plain.keys() == std::vector<std::string>{"b", "plain"});

  Options flip = with({{"flip", "true"}, {"side", "right"}});
  StateDict flipped{{"a", a}, {"b", b}};
  to_prime(*chain, flipped, flip);
  CHECK(flipped.keys() == std::vector<std::string>{"b_right", "flipped"});
  to_hf(*chain, flipped, flip);
  require_same(flipped, StateDict{{"a", a}, {"b", b}});
}

TEST_CASE("stack dims, synthetic shapes and squeeze ndims take expressions") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: more integer arguments
params:
  d: {type: int, default: 1, doc: the stacking dim}
ops:
  - stack: {from: "e.{expert}", to: s, dim: "${d}"}
  - synthetic: {key: z, like: s, shape: ["${d} + 1", "${config.n}"]}
)");
  const at::Tensor e0 = counting({2, 3}), e1 = counting({2, 3}, 10);
  StateDict sd{{"e.0", e0}, {"e.1", e1}};
  to_prime(*chain, sd, with({}, R"({"n": 5})"));
  CHECK(at::equal(sd.at("s"), at::stack({e0, e1}, 1)));  // [2, 2, 3]: stacked on dim 1
  CHECK(sd.at("z").sizes() == at::IntArrayRef{2, 5});
}
