// The dequantizing ops (dequant_fp8_block, dequant_mxfp4) and their codecs, with values
// worked out by hand from TARGETS.md 4.3-4.5 (E4M3: sign, 4 exponent bits with bias 7, 3
// mantissa bits) and 5.2 (E2M1 codes, E8M0 exponents, the low nibble first): odd sizes,
// stacked experts, bf16 and f32, the re-quantization's rounding, and the errors.
#include <set>

#include "aten/kernels.h"
#include "ops/transforms.h"
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

std::unique_ptr<Chain> chain_of(const std::string& ops) {
  return chain_from("version: 1\nmodel_types: [test]\ndescription: dequantizing ops\nops:\n" + ops);
}

at::Tensor bytes(std::vector<int64_t> shape, std::vector<int> values) {
  std::vector<uint8_t> b(values.begin(), values.end());
  return at::tensor(at::ArrayRef<uint8_t>(b), at::kByte).reshape(shape).clone();
}

at::Tensor floats(std::vector<int64_t> shape, std::vector<float> values) {
  return at::tensor(at::ArrayRef<float>(values), at::kFloat).reshape(shape).clone();
}

Item fp8(at::Tensor codes) { return Item{std::move(codes), "F8_E4M3"}; }

// E4M3 codes of some values (by the bit layout s eeee mmm).
constexpr int kOne = 0x38, kTwo = 0x40, kOneAndHalf = 0x3C, kMinusOne = 0xB8, kMax = 0x7E,
              kSmallestSubnormal = 0x01, kMinusTwo = 0xC0;

const char* kFp8Chain =
    R"(  - dequant_fp8_block: {key: "l.{layer}.{proj:segment}.weight", block: [2, 2], dtype: F32}
)";

}  // namespace

TEST_CASE("dequant_fp8_block multiplies each code's value by its block's scale, edge blocks cut") {
  auto chain = chain_of(kFp8Chain);
  // [3, 5] in blocks of 2 x 2: a [2, 3] grid whose last row and column are partial.
  std::vector<int> codes(15, kOne);
  codes[0 * 5 + 0] = kMinusOne;
  codes[1 * 5 + 3] = kMax;
  codes[2 * 5 + 4] = kTwo;
  codes[2 * 5 + 0] = kSmallestSubnormal;
  codes[0 * 5 + 2] = kOneAndHalf;
  const at::Tensor scale = floats({2, 3}, {1, 2, 4, 0.5, 0.25, 8});
  StateDict sd;
  sd.insert("l.0.q_proj.weight", fp8(bytes({3, 5}, codes)));
  sd.insert("l.0.q_proj.weight_scale_inv", scale);
  sd.insert("l.0.norm", at::ones({5}));
  to_prime(*chain, sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"l.0.norm", "l.0.q_proj.weight"});
  const at::Tensor w = sd.at("l.0.q_proj.weight");
  REQUIRE(w.scalar_type() == at::kFloat);
  REQUIRE(w.sizes() == at::IntArrayRef{3, 5});
  const float S[2][3] = {{1, 2, 4}, {0.5, 0.25, 8}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) {
      INFO("element " << r << ", " << c);
      float value = 1.0f;
      if (r == 0 && c == 0) value = -1.0f;
      if (r == 1 && c == 3) value = 448.0f;
      if (r == 2 && c == 4) value = 2.0f;
      if (r == 2 && c == 0) value = 1.0f / 512;  // 2^-6 * 1/8
      if (r == 0 && c == 2) value = 1.5f;
      CHECK(w[r][c].item<float>() == value * S[r / 2][c / 2]);
    }
}

TEST_CASE("dequant_fp8_block keeps stacked experts' leading dim, gives bf16 by default") {
  auto chain = chain_of(R"(  - dequant_fp8_block: {key: "e.w1", block: [1, 2]}
)");
  // [2 experts, 1, 3] with scales [2, 1, 2]; expert 1's scales are 4 and 0.5.
  StateDict sd;
  sd.insert("e.w1", fp8(bytes({2, 1, 3}, {kOne, kTwo, kMinusTwo, kOneAndHalf, kOne, kMinusOne})));
  sd.insert("e.w1_scale_inv", floats({2, 1, 2}, {1, 3, 4, 0.5}).to(at::kBFloat16));
  to_prime(*chain, sd);
  const at::Tensor w = sd.at("e.w1");
  REQUIRE(w.scalar_type() == at::kBFloat16);
  CHECK(at::equal(w.to(at::kFloat), floats({2, 1, 3}, {1, 2, -6, 6, 4, -0.5})));
}

TEST_CASE("re-quantizing: scale = amax / 448 per block, codes round to nearest even") {
  auto chain = chain_of(kFp8Chain);
  // Block (0, 0) holds 448, so its scale is 1 and its values are codes of themselves:
  // 1.0625 lies halfway between 1 (mantissa 0) and 1.125 (mantissa 1) and goes to 1;
  // 1.1875, halfway between 1.125 and 1.25 (mantissa 2), goes to 1.25. Block (0, 1) holds
  // 896 = 448 * 2 (scale 2); block (1, *) is all zero (scale 1e-4 / 448, codes 0).
  const at::Tensor x = floats({3, 4}, {448, 1.0625, 896, -2,  //
                                       1.1875, -1, 4, 3,      //
                                       0, 0, 0, 0});
  StateDict sd{{"l.0.o_proj.weight", x.to(at::kBFloat16)}};
  to_hf(*chain, sd);
  REQUIRE(sd.keys() ==
          std::vector<std::string>{"l.0.o_proj.weight", "l.0.o_proj.weight_scale_inv"});
  const Item& q = sd.item("l.0.o_proj.weight");
  CHECK(q.opaque_dtype == "F8_E4M3");
  // 896/2 = 448 (0x7E), -2/2 = -1 (0xB8), 4/2 = 2 (0x40), 3/2 = 1.5 (0x3C).
  CHECK(at::equal(q.tensor, bytes({3, 4}, {kMax, kOne, kMax, kMinusOne,  //
                                           0x3A, kMinusOne, kTwo, kOneAndHalf, 0, 0, 0, 0})));
  const at::Tensor s = sd.at("l.0.o_proj.weight_scale_inv");
  REQUIRE(s.scalar_type() == at::kFloat);
  REQUIRE(s.sizes() == at::IntArrayRef{2, 2});
  CHECK(s[0][0].item<float>() == 1.0f);
  CHECK(s[0][1].item<float>() == 2.0f);
  CHECK(s[1][0].item<float>() == static_cast<float>(1e-4f / 448.0f));

  // Dequantizing again gives the values back where they were codes.
  to_prime(*chain, sd);
  const at::Tensor back = sd.at("l.0.o_proj.weight");
  CHECK(back[0][0].item<float>() == 448);
  CHECK(back[0][1].item<float>() == 1);
  CHECK(back[1][0].item<float>() == 1.25);
  CHECK(back[0][2].item<float>() == 896);
}

TEST_CASE("FP8 codes saturate at 448, keep the sign of zero, and subnormals round to even") {
  // The quantize kernel with a scale of 1 on one 1 x 8 block.
  const at::Tensor x =
      floats({1, 8}, {1000, -1000, -0.0f, 1.0f / 1024, 3.0f / 1024, 0.3f, 464, 465});
  const at::Tensor s = floats({1, 1}, {1});
  const std::vector<int64_t> block = {1, 8};
  const at::Tensor q = fp8_block_quantize({{x, s}, block, at::kByte});
  // 2^-10 is halfway between 0 and 2^-9 (code 1): to 0. 3 * 2^-10 is halfway between codes 1
  // and 2: to 2. 0.3 lies between 0.28125 (0x29: 2^-2 * 1.125) and 0.3125 (0x2A), nearer
  // 0.3125. 464, halfway between 448 and where 480 would be, stays 448; so does 465.
  CHECK(at::equal(q, bytes({1, 8}, {kMax, 0xFE, 0x80, 0x00, 0x02, 0x2A, kMax, kMax})));
}

TEST_CASE("dequant_fp8_block errors name the tensor: not FP8, no companion, a wrong grid") {
  auto chain = chain_of(kFp8Chain);
  {
    StateDict sd{{"l.0.q_proj.weight", at::ones({2, 2})}};
    CHECK_THROWS_WITH(to_prime(*chain, sd),
                      Catch::Contains("'l.0.q_proj.weight' is F32, not F8_E4M3"));
  }
  {
    StateDict sd;
    sd.insert("l.0.q_proj.weight", fp8(bytes({2, 2}, {kOne, kOne, kOne, kOne})));
    CHECK_THROWS_WITH(to_prime(*chain, sd),
                      Catch::Contains("has no scale companion 'l.0.q_proj.weight_scale_inv'"));
    sd.insert("l.0.q_proj.weight_scale_inv", floats({1, 2}, {1, 1}));
    CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("needs [1, 1]"));
    CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("test.yaml:5:"));
  }
  {
    StateDict sd{{"l.0.q_proj.weight", at::ones({4})}};
    CHECK_THROWS_WITH(to_hf(*chain, sd), Catch::Contains("block scaling needs >= 2 dims"));
  }
}

const char* kMxChain =
    R"(  - dequant_mxfp4: {blocks: "l.{layer}.gate_up_proj_blocks", scales: "l.{layer}.gate_up_proj_scales", to: "l.{layer}.gate_up_proj", dtype: F32}
)";

TEST_CASE("dequant_mxfp4 decodes two E2M1 codes a byte, low nibble first, times 2^(s - 127)") {
  auto chain = chain_of(kMxChain);
  // [1 row, 2 groups, 16 bytes]; group 0 has scale 127 (x1), group 1 has 129 (x4).
  std::vector<int> b(32, 0);
  b[0] = 0x21;   // element 0: code 1 (0.5), element 1: code 2 (1.0)
  b[1] = 0xF7;   // element 2: code 7 (6.0), element 3: code 15 (-6.0)
  b[16] = 0x9A;  // element 32: code 10 (-1.0) x 4, element 33: code 9 (-0.5) x 4
  b[31] = 0x53;  // element 62: code 3 (1.5) x 4, element 63: code 5 (3.0) x 4
  StateDict sd;
  sd.insert("l.0.gate_up_proj_blocks", bytes({1, 2, 16}, b));
  sd.insert("l.0.gate_up_proj_scales", bytes({1, 2}, {127, 129}));
  to_prime(*chain, sd);
  REQUIRE(sd.keys() == std::vector<std::string>{"l.0.gate_up_proj"});
  const at::Tensor w = sd.at("l.0.gate_up_proj");
  REQUIRE(w.sizes() == at::IntArrayRef{1, 64});
  std::vector<float> expected(64, 0.0f);
  expected[0] = 0.5f, expected[1] = 1.0f, expected[2] = 6.0f, expected[3] = -6.0f;
  expected[32] = -4.0f, expected[33] = -2.0f, expected[62] = 6.0f, expected[63] = 12.0f;
  CHECK(at::equal(w, floats({1, 64}, expected)));
}

TEST_CASE("packing MXFP4: the exponent puts a group's amax in [4, 8), codes round to even") {
  auto chain = chain_of(kMxChain);
  // Group 0: amax 6 -> exponent 0 (byte 127); 0.25, 0.75, 1.25, 5 are ties (between 0 / 0.5,
  // 0.5 / 1, 1 / 1.5, 4 / 6) going to the even codes 0, 2, 2, 6; 7 saturates to 6 (code 7).
  // Group 1: amax 0.375 -> floor(log2) = -2, exponent -4 (byte 123): x * 16. Group 2 is zero:
  // exponent -127 (byte 0).
  std::vector<float> x(96, 0.0f);
  x[0] = 6, x[1] = -3, x[2] = 0.25, x[3] = 1.25, x[4] = 0.75, x[5] = 5, x[6] = -7;
  x[32] = 0.375, x[33] = -0.125;
  StateDict sd{{"l.0.gate_up_proj", floats({1, 96}, x).to(at::kBFloat16)}};
  to_hf(*chain, sd);
  REQUIRE(sd.keys() ==
          std::vector<std::string>{"l.0.gate_up_proj_blocks", "l.0.gate_up_proj_scales"});
  CHECK(at::equal(sd.at("l.0.gate_up_proj_scales"), bytes({1, 3}, {127, 123, 0})));
  std::vector<int> b(48, 0);
  b[0] = 0x7 | (0xD << 4);   // 6, -3
  b[1] = 0x0 | (0x2 << 4);   // 0.25 -> 0, 1.25 -> 1.0
  b[2] = 0x2 | (0x6 << 4);   // 0.75 -> 1.0, 5 -> 4
  b[3] = 0xF;                // -7 -> -6
  b[16] = 0x7 | (0xC << 4);  // 0.375 * 16 = 6, -0.125 * 16 = -2 (code 4 with the sign)
  CHECK(at::equal(sd.at("l.0.gate_up_proj_blocks"), bytes({1, 3, 16}, b)));
}

TEST_CASE("dequant_mxfp4 errors: blocks of another shape, missing or mismatched scales") {
  auto chain = chain_of(kMxChain);
  {
    StateDict sd{{"l.0.gate_up_proj_blocks", at::zeros({1, 2, 8}, at::kByte)},
                 {"l.0.gate_up_proj_scales", at::zeros({1, 2}, at::kByte)}};
    CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("not MXFP4 blocks"));
  }
  {
    StateDict sd{{"l.0.gate_up_proj_blocks", at::zeros({1, 2, 16}, at::kByte)}};
    CHECK_THROWS_WITH(to_prime(*chain, sd),
                      Catch::Contains("has no scales 'l.0.gate_up_proj_scales'"));
    sd.insert("l.0.gate_up_proj_scales", at::zeros({1, 3}, at::kByte));
    CHECK_THROWS_WITH(to_prime(*chain, sd), Catch::Contains("need U8 [1, 2]"));
  }
  {
    StateDict sd{{"l.0.gate_up_proj", at::zeros({2, 33})}};
    CHECK_THROWS_WITH(to_hf(*chain, sd), Catch::Contains("multiple of 32"));
  }
}

TEST_CASE("the dequantizing ops are declared lossy and check their arguments when compiled") {
  auto chain = chain_of(kFp8Chain);
  CHECK_THROWS_WITH(chain_of(R"(  - dequant_fp8_block: {key: "a.weight", dtype: U8}
)"),
                    Catch::Contains("expected a float dtype"));
  CHECK_THROWS_WITH(
      chain_of(R"(  - dequant_mxfp4: {blocks: "l.{layer}.b", scales: "s", to: "l.{layer}.w"}
)"),
      Catch::Contains("layer"));
}

TEST_CASE("every transform of the vocabulary has a kernel, and every kernel a transform") {
  std::set<std::string> vocabulary, kernels;
  for (const Transform& t : transforms()) vocabulary.insert(std::string(t.name));
  for (std::string_view name : kernel_names()) kernels.insert(std::string(name));
  CHECK(vocabulary == kernels);
  CHECK(vocabulary.count("fp8_block_quantize") == 1);
}

TEST_CASE("dequantizing an expert-parallel shard gives the rows of the whole") {
  // Stacked FP8 experts [4, 2, 2] with one scale per expert ([4, 1, 1], block 2 x 2): experts
  // 2..3 alone, at expert offset 2, dequantize to rows 2..3 of the whole.
  auto chain = chain_of(R"(  - dequant_fp8_block: {key: "e.w1", block: [2, 2], dtype: F32}
)");
  std::vector<int> codes;
  for (int e = 0; e < 4; ++e)
    for (int i = 0; i < 4; ++i) codes.push_back(i % 2 ? kTwo : kOne);
  const at::Tensor all_codes = bytes({4, 2, 2}, codes);
  const at::Tensor all_scales = floats({4, 1, 1}, {1, 2, 4, 8});
  StateDict whole;
  whole.insert("e.w1", fp8(all_codes));
  whole.insert("e.w1_scale_inv", all_scales);
  to_prime(*chain, whole);
  StateDict shard;
  shard.insert("e.w1", fp8(all_codes.narrow(0, 2, 2)));
  shard.insert("e.w1_scale_inv", all_scales.narrow(0, 2, 2));
  Options options;
  options.expert_offset = 2;
  to_prime(*chain, shard, options);
  CHECK(at::equal(shard.at("e.w1"), whole.at("e.w1").narrow(0, 2, 2)));
  // Expert 3: codes 1.0 / 2.0 times its scale 8.
  CHECK(at::equal(shard.at("e.w1")[1], floats({2, 2}, {8, 16, 8, 16})));
}
