// Synthetic tensor values from a layout: deterministic bytes for tests and the demo.
#include <cstring>

#include "core/error.h"
#include "layout/layout.h"

namespace chainconv {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// FNV-1a: the key's contribution to its tensor's seed, stable across runs and platforms.
uint64_t hash_key(const std::string& key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void put_le(uint8_t* out, uint64_t bits, size_t width) {
  for (size_t b = 0; b < width; ++b) out[b] = static_cast<uint8_t>(bits >> (8 * b));
}

// `value` (a multiple of 1/64 in [-2, 2): exact in each of these) in a float dtype's bits.
uint64_t float_bits(float value, std::string_view dtype) {
  uint32_t f;
  std::memcpy(&f, &value, 4);
  if (dtype == "F32") return f;
  if (dtype == "BF16") return f >> 16;  // exact: the low 16 bits are zero
  if (dtype == "F64") {
    double d = value;
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    return bits;
  }
  // F16: the same sign, the exponent rebiased (15 instead of 127), the top 10 mantissa bits.
  const uint32_t sign = (f >> 31) & 1, exponent = (f >> 23) & 0xff, mantissa = f & 0x7fffff;
  if (exponent == 0) return sign << 15;  // zero
  return (sign << 15) | ((exponent - 127 + 15) << 10) | (mantissa >> 13);
}

}  // namespace

std::vector<uint8_t> synthetic_bytes(const TensorSpec& spec, uint64_t seed) {
  const DtypeInfo& info = *spec.dtype;
  uint64_t state = seed ^ hash_key(spec.key);
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * info.itemsize);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bits = splitmix64(state);
    if (info.floating()) {
      const float value = static_cast<float>(static_cast<int64_t>(bits % 256) - 128) / 64.0f;
      bits = float_bits(value, info.name);
    } else if (info.kind == DtypeInfo::Kind::boolean) {
      bits &= 1;
    }
    put_le(bytes.data() + i * info.itemsize, bits, info.itemsize);
  }
  return bytes;
}

}  // namespace chainconv
