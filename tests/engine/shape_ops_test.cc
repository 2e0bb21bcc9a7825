// The shape ops (reshape, permute, transpose, concat, rope_permute), with expectations
// written by hand: element by element from index formulas, odd sizes, f32 and bf16, views
// sharing storage, an expert-parallel shard, and the errors.
#include "program/lower.h"
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

std::unique_ptr<Chain> chain_of(const std::string& ops) {
  return chain_from("version: 1\nmodel_types: [test]\ndescription: shape ops\nops:\n" + ops);
}

double at_index(const at::Tensor& t, std::vector<int64_t> index) {
  at::Tensor x = t;
  for (int64_t i : index) x = x.select(0, i);
  return x.item<double>();
}

bool shares_storage(const at::Tensor& a, const at::Tensor& b) {
  return a.storage().data() == b.storage().data();
}

std::vector<std::string> step_kinds(const Chain& chain, Direction d, const StateDict& dict) {
  std::vector<std::string> kinds;
  const Program program = lower(chain, d, specs_of(dict), {});
  for (const Step& step : program.steps())
    kinds.emplace_back(step_kind_name(step.kind));
  return kinds;
}

const at::ScalarType kDtypes[] = {at::kFloat, at::kBFloat16};

}  // namespace

TEST_CASE("reshape gives the declared shape as a view - and backward restores the input's") {
  auto chain = chain_of(R"(  - reshape: {key: "l.{layer}.w", from: [3, -1], to: [5, -1, 2]}
)");
  for (at::ScalarType dtype : kDtypes) {
    INFO("dtype " << dtype);
    const at::Tensor w = counting({3, 10}, 0, dtype);
    StateDict sd{{"l.0.w", w}};
    to_prime(*chain, sd);
    const at::Tensor prime = sd.at("l.0.w");
    REQUIRE(prime.sizes() == at::IntArrayRef{5, 3, 2});
    REQUIRE(prime.scalar_type() == dtype);
    // Row-major order is kept: element [a][b][c] is element 6a + 2b + c of the input.
    for (int64_t a = 0; a < 5; ++a)
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t c = 0; c < 2; ++c) CHECK(at_index(prime, {a, b, c}) == 6 * a + 2 * b + c);
    CHECK(shares_storage(prime, w));

    to_hf(*chain, sd);
    const at::Tensor hf = sd.at("l.0.w");
    REQUIRE(hf.sizes() == at::IntArrayRef{3, 10});
    CHECK(at::equal(hf, w));
    CHECK(shares_storage(hf, w));
  }
}

TEST_CASE("reshape refuses a tensor whose shape is not its 'from' - and one that cannot fit") {
  auto chain = chain_of(R"(  - reshape: {key: "w", from: [-1, 7], to: [2, -1]}
)");
  StateDict sd{{"w", counting({3, 5})}};
  CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("test.yaml:5:5") &&
                                              Catch::Contains("reshape (to_prime)") &&
                                              Catch::Contains("its shape [3, 5] is not [-1, 7]"));
  CHECK(sd.at("w").sizes() == at::IntArrayRef{3, 5});  // untouched
  StateDict odd{{"w", counting({3, 7})}};              // 21 elements: no [2, -1]
  CHECK_THROWS_WITH(to_prime(*chain, odd),
                    Catch::Contains("cannot reshape 'w' [3, 7] (21 elements) to [2, -1]"));
  // Backward checks the prime side against 'to'.
  StateDict prime{{"w", counting({3, 14})}};
  CHECK_THROWS_WITH(to_hf(*chain, prime), Catch::Contains("its shape [3, 14] is not [2, -1]"));
}

TEST_CASE("a reshape its input's strides cannot view copies first - never a wrong stride") {
  auto chain = chain_of(R"(  - transpose: {key: "w", dims: [0, 1]}
  - reshape: {key: "w", from: [10, 3], to: [-1]}
)");
  const StateDict input{{"w", counting({3, 10})}};
  CHECK(step_kinds(*chain, Direction::to_prime, input) ==
        std::vector<std::string>{"view", "copy", "view"});
  StateDict sd = clone(input);
  to_prime(*chain, sd);
  const at::Tensor flat = sd.at("w");
  REQUIRE(flat.sizes() == at::IntArrayRef{30});
  // flat[3i + j] is the transposed [i][j], input [j][i] = 10j + i.
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = 0; j < 3; ++j) CHECK(at_index(flat, {3 * i + j}) == 10 * j + i);

  to_hf(*chain, sd);
  CHECK(at::equal(sd.at("w"), input.at("w")));
}

TEST_CASE("permute moves dims as a view - and backward applies the inverse permutation") {
  auto chain = chain_of(R"(  - permute: {key: "w", dims: [2, 0, 1]}
)");
  for (at::ScalarType dtype : kDtypes) {
    INFO("dtype " << dtype);
    const at::Tensor w = counting({3, 5, 7}, 0, dtype);
    StateDict sd{{"w", w}};
    to_prime(*chain, sd);
    const at::Tensor p = sd.at("w");
    REQUIRE(p.sizes() == at::IntArrayRef{7, 3, 5});
    for (int64_t k = 0; k < 7; ++k)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j) CHECK(at_index(p, {k, i, j}) == 35 * i + 7 * j + k);
    CHECK(shares_storage(p, w));

    // A prime tensor of its own: backward makes [a][b][c] of HF from [c][a][b].
    const at::Tensor own = counting({7, 3, 5}, 0, dtype);
    StateDict prime{{"w", own}};
    to_hf(*chain, prime);
    const at::Tensor hf = prime.at("w");
    REQUIRE(hf.sizes() == at::IntArrayRef{3, 5, 7});
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t b = 0; b < 5; ++b)
        for (int64_t c = 0; c < 7; ++c) CHECK(at_index(hf, {a, b, c}) == 15 * c + 5 * a + b);
    CHECK(shares_storage(hf, own));
  }
}

TEST_CASE("permute refuses a tensor with another number of dims") {
  auto chain = chain_of(R"(  - permute: {key: "w", dims: [1, 0, 2]}
)");
  StateDict sd{{"w", counting({3, 5})}};
  CHECK_THROWS_WITH(to_prime(*chain, sd),
                    Catch::Contains("test.yaml:5:5") &&
                        Catch::Contains("cannot permute 'w' [3, 5] by [1, 0, 2]"));
}

TEST_CASE("transpose swaps two dims counted from either end - and is its own inverse") {
  auto chain = chain_of(R"(  - transpose: {key: "l.{layer}.w", dims: [-1, 1]}
)");
  const at::Tensor w = counting({2, 3, 5}, 0, at::kBFloat16);
  StateDict sd{{"l.4.w", w}};
  to_prime(*chain, sd);
  const at::Tensor t = sd.at("l.4.w");
  REQUIRE(t.sizes() == at::IntArrayRef{2, 5, 3});
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 5; ++b)
      for (int64_t c = 0; c < 3; ++c) CHECK(at_index(t, {a, b, c}) == 15 * a + 5 * c + b);
  CHECK(shares_storage(t, w));
  to_hf(*chain, sd);
  CHECK(at::equal(sd.at("l.4.w"), w));

  StateDict flat{{"l.0.w", counting({4})}};
  CHECK_THROWS_WITH(to_prime(*chain, flat), Catch::Contains("'l.0.w' has 1 dims, no dim -1") ||
                                                Catch::Contains("'l.0.w' has 1 dims, no dim 1"));
}

TEST_CASE("concat joins parts of the declared sizes - and backward splits them into views") {
  auto chain = chain_of(
      R"(  - concat: {from: ["l.{layer}.q", "l.{layer}.k"], to: "l.{layer}.qk", dim: 0, sizes: [3, 5]}
)");
  for (at::ScalarType dtype : kDtypes) {
    INFO("dtype " << dtype);
    const at::Tensor q = counting({3, 7}, 0, dtype), k = counting({5, 7}, 100, dtype);
    StateDict sd{{"l.1.q", q}, {"l.1.k", k}};
    to_prime(*chain, sd);
    REQUIRE(sd.keys() == std::vector<std::string>{"l.1.qk"});
    const at::Tensor qk = sd.at("l.1.qk");
    REQUIRE(qk.sizes() == at::IntArrayRef{8, 7});
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t c = 0; c < 7; ++c)
        CHECK(at_index(qk, {r, c}) == (r < 3 ? 7 * r + c : 100 + 7 * (r - 3) + c));

    to_hf(*chain, sd);
    REQUIRE(sd.keys() == std::vector<std::string>{"l.1.k", "l.1.q"});
    CHECK(at::equal(sd.at("l.1.q"), q));
    CHECK(at::equal(sd.at("l.1.k"), k));
    CHECK(shares_storage(sd.at("l.1.q"), qk));
    CHECK(shares_storage(sd.at("l.1.k"), qk));
  }
}

TEST_CASE("concat without sizes splits backward into equal parts - and forward checks that") {
  auto chain = chain_of(R"(  - concat: {from: ["g", "u"], to: "gu", dim: 1}
)");
  const at::Tensor g = counting({2, 3}), u = counting({2, 3}, 10);
  StateDict sd{{"g", g}, {"u", u}};
  to_prime(*chain, sd);
  const at::Tensor gu = sd.at("gu");
  REQUIRE(gu.sizes() == at::IntArrayRef{2, 6});
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 6; ++c)
      CHECK(at_index(gu, {r, c}) == (c < 3 ? 3 * r + c : 10 + 3 * r + (c - 3)));
  to_hf(*chain, sd);
  CHECK(at::equal(sd.at("g"), g));
  CHECK(at::equal(sd.at("u"), u));

  StateDict unequal{{"g", counting({2, 3})}, {"u", counting({2, 4})}};
  CHECK_THROWS_WITH(to_prime(*chain, unequal),
                    Catch::Contains("test.yaml:5:5") &&
                        Catch::Contains("part 'u' has size 4 along dim 1 but backward would split "
                                        "off 3 (equal parts; give 'sizes')"));
  StateDict missing{{"g", counting({2, 3})}};
  CHECK_THROWS_WITH(to_prime(*chain, missing),
                    Catch::Contains("cannot make 'gu': part 'u' is missing"));
  StateDict odd{{"gu", counting({2, 5})}};
  CHECK_THROWS_WITH(to_hf(*chain, odd), Catch::Contains("not divisible into 2 equal parts"));
  StateDict mixed{{"g", counting({2, 3}, 0, at::kBFloat16)}, {"u", counting({2, 3})}};
  CHECK_THROWS_WITH(to_prime(*chain, mixed), Catch::Contains("no silent casts"));
}

TEST_CASE("on an expert-parallel shard, ops that need the whole expert dim are refused") {
  auto chain = chain_of(R"(  - stack: {from: "e.{expert}.w", to: "w1"}
  - reshape: {key: "w1", from: [-1, 2, 3], to: [-1, 3]}
)");
  auto keeps = chain_of(R"(  - stack: {from: "e.{expert}.w", to: "w1"}
  - reshape: {key: "w1", from: [-1, 2, 3], to: [-1, 6]}
  - transpose: {key: "w1", dims: [0, 1]}
  - concat: {from: ["w1", "w3"], to: "w13", dim: 0}
)");
  auto joins = chain_of(R"(  - stack: {from: "e.{expert}.w", to: "w1"}
  - stack: {from: "e.{expert}.v", to: "w3"}
  - concat: {from: ["w1", "w3"], to: "w13", dim: 0}
)");
  Options shard;
  shard.expert_offset = 2;
  const at::Tensor e2 = counting({2, 3}, 0), e3 = counting({2, 3}, 10);
  StateDict sd{{"e.2.w", e2}, {"e.3.w", e3}};
  // [2 experts, 2, 3] -> [4, 3] merges the expert dim with the rows: the shard's rows would
  // not be a slice of the whole model's.
  CHECK_THROWS_WITH(to_prime(*chain, sd, shard),
                    Catch::Contains("test.yaml:6:5") && Catch::Contains("reshape (to_prime)") &&
                        Catch::Contains("dim 0 of 'w1' numbers experts") &&
                        Catch::Contains("expert offset 2"));
  CHECK(sd.size() == 2);  // untouched

  // The whole model (offset 0) may merge it.
  StateDict whole{{"e.0.w", e2}, {"e.1.w", e3}};
  to_prime(*chain, whole);
  CHECK(whole.at("w1").sizes() == at::IntArrayRef{4, 3});

  // Keeping the expert dim a dim of its own is fine on a shard; a transpose moves it to dim 1,
  // so concatenating along dim 0 is fine too.
  StateDict kept{{"e.2.w", e2}, {"e.3.w", e3}, {"w3", counting({6, 2})}};
  to_prime(*keeps, kept, shard);
  const at::Tensor w13 = kept.at("w13");
  REQUIRE(w13.sizes() == at::IntArrayRef{12, 2});
  CHECK(at_index(w13, {5, 1}) == 15);  // w1 transposed: [5][1] is expert 3's element 5

  StateDict two{{"e.2.w", e2}, {"e.3.w", e3}, {"e.2.v", e2}, {"e.3.v", e3}};
  CHECK_THROWS_WITH(to_prime(*joins, two, shard),
                    Catch::Contains("test.yaml:7:5") && Catch::Contains("concat (to_prime)") &&
                        Catch::Contains("cannot concatenate along dim 0: dim 0 of 'w1' numbers "
                                        "experts"));
}

namespace {

// TARGETS.md §1.2, per-row form: Meta row r of head h comes from HF row
// h*hd + (r mod 2)*(hd/2) + floor(r/2).
at::Tensor meta_from_hf(const at::Tensor& hf, int64_t heads) {
  const int64_t hd = hf.size(0) / heads;
  std::vector<at::Tensor> rows;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t r = 0; r < hd; ++r) rows.push_back(hf[h * hd + (r % 2) * (hd / 2) + r / 2]);
  return at::stack(rows);
}

}  // namespace

TEST_CASE("rope_permute interleaves each head's halves - HF rows 0,4,1,5,2,6,3,7 for hd 8") {
  auto chain = chain_of(R"(  - rope_permute: {key: "l.{layer}.q", heads: 2, head_dim: 8}
  - rope_permute: {key: "l.{layer}.k", heads: 1}
  - rope_permute: {key: "l.{layer}.q_bias", heads: 2}
)");
  for (at::ScalarType dtype : kDtypes) {
    INFO("dtype " << dtype);
    const at::Tensor q = counting({16, 5}, 0, dtype), k = counting({8, 5}, 1000, dtype),
                     bias = counting({16}, 0, dtype);
    StateDict sd{{"l.0.q", q}, {"l.0.k", k}, {"l.0.q_bias", bias}};
    to_prime(*chain, sd);
    const at::Tensor mq = sd.at("l.0.q"), mk = sd.at("l.0.k");
    REQUIRE(mq.sizes() == at::IntArrayRef{16, 5});
    REQUIRE(mq.is_contiguous());
    const int64_t order[] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t r = 0; r < 8; ++r) {
        CHECK(at::equal(mq[h * 8 + r], q[h * 8 + order[r]]));
        CHECK(at_index(sd.at("l.0.q_bias"), {h * 8 + r}) == h * 8 + order[r]);
      }
    // Grouped-query attention: k has its own (KV) head count.
    for (int64_t r = 0; r < 8; ++r) CHECK(at::equal(mk[r], k[order[r]]));

    to_hf(*chain, sd);
    CHECK(at::equal(sd.at("l.0.q"), q));
    CHECK(at::equal(sd.at("l.0.k"), k));
    CHECK(at::equal(sd.at("l.0.q_bias"), bias));
  }
}

TEST_CASE("rope_permute matches the per-row formula for other head counts and dims") {
  for (auto [heads, hd] : {std::pair<int64_t, int64_t>{3, 4}, {4, 2}, {5, 6}, {1, 10}}) {
    INFO("heads " << heads << " head_dim " << hd);
    auto chain = chain_of("  - rope_permute: {key: \"w\", heads: " + std::to_string(heads) +
                          ", head_dim: " + std::to_string(hd) + "}\n");
    const at::Tensor w = counting({heads * hd, 3});
    StateDict sd{{"w", w}};
    to_prime(*chain, sd);
    CHECK(at::equal(sd.at("w"), meta_from_hf(w, heads)));
    to_hf(*chain, sd);
    CHECK(at::equal(sd.at("w"), w));
  }
}

TEST_CASE("rope_permute refuses rows that are not heads of an even head_dim") {
  auto chain = chain_of(R"(  - rope_permute: {key: "w", heads: 4, head_dim: 8}
)");
  StateDict sd{{"w", counting({24, 3})}};
  CHECK_THROWS_WITH(to_prime(*chain, sd),
                    Catch::Contains("test.yaml:5:5") &&
                        Catch::Contains("rope_permute (to_prime)") &&
                        Catch::Contains("'w' has 24 rows, not 4 heads of an even head_dim 8"));
  auto odd = chain_of(R"(  - rope_permute: {key: "w", heads: 4}
)");
  StateDict twelve{{"w", counting({12, 3})}};  // head_dim 3 is odd
  CHECK_THROWS_WITH(to_prime(*odd, twelve), Catch::Contains("not 4 heads of an even head_dim"));
}

TEST_CASE("shape ops report their argument errors at the argument") {
  auto fails = [](const std::string& ops) {
    try {
      chain_of(ops);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(fails("  - reshape: {key: w, from: [-1, 2], to: [-1, -1]}\n"),
             Catch::Contains("test.yaml:5:47") && Catch::Contains("-1 may appear only once"));
  CHECK_THAT(fails("  - reshape: {key: w, from: [3, 4], to: [5, 2]}\n"),
             Catch::Contains("'to' [5, 2] has 10 elements but 'from' [3, 4] has 12"));
  CHECK_THAT(fails("  - permute: {key: w, dims: [0, 0, 1]}\n"),
             Catch::Contains("not a permutation of 0..2"));
  CHECK_THAT(fails("  - transpose: {key: w, dims: [1]}\n"),
             Catch::Contains("'dims' needs exactly two dims"));
  CHECK_THAT(fails("  - rope_permute: {key: w, heads: 4, head_dim: 7}\n"),
             Catch::Contains("expected a positive even head_dim, found 7"));
  CHECK_THAT(fails("  - concat: {from: [a, b], to: c, sizes: [1]}\n"),
             Catch::Contains("'sizes' has 1 entries for 2 parts"));
}
