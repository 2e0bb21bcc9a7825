// The dtype codecs of the dequantizing ops: FP8 E4M3 with one scale per block (DeepSeek-V3,
// MiniMax-M2, Qwen3-FP8) and MXFP4 (gpt-oss), after the formulas in TARGETS.md 4.3-4.5 and
// 5.2. This LibTorch has no float8 or float4 dtype, so codes are decoded through a lookup
// table indexed by the code and encoded by a search among the representable values; both
// are plain ATen ops, so they run on the inputs' device. Values are computed in float32.
#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <limits>

#include "aten/kernels.h"
#include "core/error.h"

namespace chainconv {
namespace {

constexpr double kE4M3Max = 448.0;
constexpr double kMinAmax = 1e-4;  // DeepGEMM's floor, so that an all-zero block scales to > 0

// The value of each E4M3FN byte: sign, 4 exponent bits (bias 7), 3 mantissa bits; only
// S.1111.111 is NaN, and there is no infinity.
const std::array<float, 256>& e4m3_values() {
  static const std::array<float, 256> values = [] {
    std::array<float, 256> v{};
    for (int code = 0; code < 256; ++code) {
      const int exponent = (code >> 3) & 15, mantissa = code & 7;
      double x = exponent == 0 ? std::ldexp(mantissa / 8.0, -6)
                               : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
      if (exponent == 15 && mantissa == 7) x = std::numeric_limits<double>::quiet_NaN();
      v[code] = static_cast<float>(code & 0x80 ? -x : x);
    }
    return v;
  }();
  return values;
}

// E2M1: sign bit 3, exponent bits 2..1 (bias 1), mantissa bit 0.
const std::array<float, 16>& e2m1_values() {
  static const std::array<float, 16> values = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,
                                               4.0f,  6.0f,  -0.0f, -0.5f, -1.0f, -1.5f,
                                               -2.0f, -3.0f, -4.0f, -6.0f};
  return values;
}

// 2^(s - 127) for each E8M0 byte s (255, NaN in OCP MX, gives infinity as HF's ldexp does).
const std::array<float, 256>& e8m0_values() {
  static const std::array<float, 256> values = [] {
    std::array<float, 256> v{};
    for (int s = 0; s < 256; ++s) v[s] = std::ldexp(1.0f, s - 127);
    return v;
  }();
  return values;
}

// The midpoints between consecutive non-negative values of a format (the first `count`
// codes are its finite non-negative values, in increasing order).
std::vector<float> midpoints(const float* values, size_t count) {
  std::vector<float> m;
  for (size_t i = 0; i + 1 < count; ++i)
    m.push_back(static_cast<float>((double(values[i]) + double(values[i + 1])) / 2));
  return m;
}

// A host table as a float tensor on `device` (on the CPU the table itself, never written).
at::Tensor table(const float* data, int64_t n, const at::Device& device) {
  at::Tensor t = at::from_blob(const_cast<float*>(data), {n}, at::TensorOptions(at::kFloat));
  return device.is_cpu() ? t : t.to(device);
}
template <size_t N>
at::Tensor table(const std::array<float, N>& values, const at::Device& device) {
  return table(values.data(), static_cast<int64_t>(N), device);
}

// Looks each code of `codes` (an integer tensor) up in `values`.
at::Tensor decode(const at::Tensor& values, const at::Tensor& codes) {
  return at::index_select(values, 0, codes.reshape({-1}).to(at::kInt)).view(codes.sizes());
}

// The code of the representable magnitude nearest to each |x| (float), ties to the even code
// (so to the even mantissa: round to nearest even), saturating at the largest one; the
// boundaries are the midpoints between the format's consecutive magnitudes.
at::Tensor nearest_code(const at::Tensor& magnitude, const at::Tensor& boundaries) {
  // At a midpoint, the left search gives the lower code and the right one the upper.
  const at::Tensor m = magnitude.contiguous();  // the search copies (and warns) otherwise
  at::Tensor lower = at::bucketize(m, boundaries, /*out_int32=*/true, /*right=*/false);
  at::Tensor upper = at::bucketize(m, boundaries, /*out_int32=*/true, /*right=*/true);
  return at::where(lower.remainder(2).eq(0), lower, upper);
}

// The block grid of the last two dims: [..., R, C] with blocks b0 x b1.
struct Blocks {
  int64_t rows, cols, b0, b1, grid_rows, grid_cols;
};

Blocks blocks_of(const at::Tensor& x, const std::vector<int64_t>& integers) {
  if (integers.size() != 2 || integers[0] <= 0 || integers[1] <= 0 || x.dim() < 2)
    throw Error("internal error: an FP8 block step needs a 2-D block and a tensor of >= 2 dims");
  const int64_t rows = x.size(-2), cols = x.size(-1), b0 = integers[0], b1 = integers[1];
  return {rows, cols, b0, b1, (rows + b0 - 1) / b0, (cols + b1 - 1) / b1};
}

// One scale per block -> one per element of [..., R, C] (edge blocks cut to their extent).
at::Tensor per_element(const at::Tensor& scale, const Blocks& b) {
  return scale.repeat_interleave(b.b0, -2)
      .repeat_interleave(b.b1, -1)
      .narrow(-2, 0, b.rows)
      .narrow(-1, 0, b.cols);
}

// 32 values per MXFP4 group, along the last dim.
constexpr int64_t kGroup = 32;

// 2^(s - 127) of each E8M0 scale byte [..., G], as [..., G, 1] to scale its group's values.
at::Tensor group_factors(const at::Tensor& scales) {
  return decode(table(e8m0_values(), scales.device()), scales).unsqueeze(-1);
}

std::vector<int64_t> with_last(at::IntArrayRef sizes, std::vector<int64_t> last, size_t drop) {
  std::vector<int64_t> out(sizes.begin(), sizes.end() - static_cast<std::ptrdiff_t>(drop));
  out.insert(out.end(), last.begin(), last.end());
  return out;
}

}  // namespace

at::Tensor fp8_block_dequantize(const KernelArgs& a) {
  const at::Tensor &codes = a.inputs.at(0), &scale = a.inputs.at(1);
  const Blocks b = blocks_of(codes, a.integers);
  at::Tensor values = decode(table(e4m3_values(), codes.device()), codes);
  return values.mul(per_element(scale.to(at::kFloat), b)).to(a.output_type);
}

at::Tensor fp8_block_scale(const KernelArgs& a) {
  const at::Tensor& x = a.inputs.at(0);
  const Blocks b = blocks_of(x, a.integers);
  // Zero padding to whole blocks cannot raise a block's amax.
  at::Tensor padded = at::constant_pad_nd(
      x.to(at::kFloat).abs(), {0, b.grid_cols * b.b1 - b.cols, 0, b.grid_rows * b.b0 - b.rows});
  at::Tensor grid = padded.reshape(with_last(x.sizes(), {b.grid_rows, b.b0, b.grid_cols, b.b1}, 2));
  at::Tensor amax = grid.amax({-3, -1});
  return amax.clamp_min(kMinAmax).div(kE4M3Max).to(a.output_type);
}

at::Tensor fp8_block_quantize(const KernelArgs& a) {
  const at::Tensor &x = a.inputs.at(0), &scale = a.inputs.at(1);
  const Blocks b = blocks_of(x, a.integers);
  // The scale as stored (a BF16 scale is what dequantization will multiply by), inverted.
  at::Tensor inverse = per_element(scale.to(at::kFloat).reciprocal(), b);
  at::Tensor q = x.to(at::kFloat).mul(inverse);
  static const std::vector<float> bounds = midpoints(e4m3_values().data(), 127);  // codes 0..126
  at::Tensor boundaries = table(bounds.data(), static_cast<int64_t>(bounds.size()), x.device());
  at::Tensor code = nearest_code(q.abs(), boundaries);
  code = at::where(at::signbit(q), code.bitwise_or(0x80), code);
  return code.to(at::kByte);
}

at::Tensor mxfp4_dequantize(const KernelArgs& a) {
  const at::Tensor &blocks = a.inputs.at(0), &scales = a.inputs.at(1);
  at::Tensor bytes = blocks.to(at::kInt);
  // The low nibble is the even element, the high nibble the odd one after it.
  at::Tensor codes = at::stack({bytes.bitwise_and(0x0F), at::bitwise_right_shift(bytes, 4)}, -1);
  const int64_t groups = blocks.size(-2);
  codes = codes.reshape(with_last(blocks.sizes(), {groups, kGroup}, 2));
  at::Tensor values = decode(table(e2m1_values(), blocks.device()), codes);
  return values.mul(group_factors(scales))
      .reshape(with_last(blocks.sizes(), {groups * kGroup}, 2))
      .to(a.output_type);
}

at::Tensor mxfp4_scale(const KernelArgs& a) {
  const at::Tensor& x = a.inputs.at(0);
  const int64_t groups = x.size(-1) / kGroup;
  at::Tensor amax =
      x.to(at::kFloat).abs().reshape(with_last(x.sizes(), {groups, kGroup}, 1)).amax(-1);
  // floor(log2(amax)) is the float's unbiased exponent; E2M1's largest exponent is 2, so the
  // group's largest value lands in [4, 8) before rounding. Zero and subnormal amax give the
  // smallest scale, 2^-127.
  at::Tensor biased = at::bitwise_right_shift(amax.view(at::kInt), 23);
  return biased.sub(2).clamp(0, 254).to(at::kByte);
}

at::Tensor mxfp4_quantize(const KernelArgs& a) {
  const at::Tensor &x = a.inputs.at(0), &scales = a.inputs.at(1);
  const int64_t groups = x.size(-1) / kGroup;
  at::Tensor q = x.to(at::kFloat)
                     .reshape(with_last(x.sizes(), {groups, kGroup}, 1))
                     .div(group_factors(scales));
  static const std::vector<float> bounds = midpoints(e2m1_values().data(), 8);
  at::Tensor boundaries = table(bounds.data(), static_cast<int64_t>(bounds.size()), x.device());
  at::Tensor code = nearest_code(q.abs(), boundaries);
  code = at::where(at::signbit(q), code.bitwise_or(0x8), code);
  code = code.reshape(with_last(x.sizes(), {groups, kGroup / 2, 2}, 1));
  at::Tensor packed = code.select(-1, 0).bitwise_or(at::bitwise_left_shift(code.select(-1, 1), 4));
  return packed.to(at::kByte);
}

}  // namespace chainconv
