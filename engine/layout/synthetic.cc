// State dicts from a layout: meta tensors for the symbolic checks, and deterministic CPU
// tensors for tests and the demo. The only layout code that touches ATen.
#include <ATen/ATen.h>

#include "core/dtypes.h"
#include "core/error.h"
#include "layout/layout.h"

namespace chainconv {
namespace {

const DtypeInfo& dtype_info(const TensorSpec& spec) {
  const DtypeInfo* info = find_dtype(spec.dtype);
  if (!info)
    throw Error("tensor '" + spec.key + "' has dtype '" + spec.dtype +
                "', which this build cannot hold");
  return *info;
}

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

at::Tensor synthetic_values(const TensorSpec& spec, const DtypeInfo& info, uint64_t seed) {
  uint64_t state = seed ^ hash_key(spec.key);
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  if (at::isFloatingType(info.storage) && !info.opaque) {
    // Multiples of 1/64 in [-2, 2): exact in every float dtype, distinct enough to tell
    // tensors and elements apart.
    at::Tensor values = at::empty({n}, at::kFloat);
    float* data = values.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i)
      data[i] = static_cast<float>(static_cast<int64_t>(splitmix64(state) % 256) - 128) / 64.0f;
    return values.reshape(spec.shape).to(info.storage);
  }
  // Integers and bytes-only dtypes: the element's bits, truncated to its width.
  at::Tensor values = at::empty({n}, at::kLong);
  int64_t* data = values.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bits = splitmix64(state);
    if (info.storage == at::kBool)
      bits &= 1;
    else if (info.itemsize < 8)
      bits &= (uint64_t{1} << (8 * info.itemsize)) - 1;
    data[i] = static_cast<int64_t>(bits);
  }
  // Reinterpreting the low bytes keeps the bit pattern (a plain cast would saturate or wrap
  // differently per dtype).
  if (info.itemsize < 8 && info.storage != at::kBool) {
    at::Tensor narrowed = at::empty({n}, info.storage);
    auto* out = static_cast<uint8_t*>(narrowed.data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      uint64_t bits = static_cast<uint64_t>(data[i]);
      for (size_t b = 0; b < info.itemsize; ++b)
        out[i * info.itemsize + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
    return narrowed.reshape(spec.shape);
  }
  return values.reshape(spec.shape).to(info.storage);
}

}  // namespace

StateDict meta_state_dict(const Layout& layout) {
  StateDict dict;
  for (const TensorSpec& spec : layout.tensors) {
    const DtypeInfo& info = dtype_info(spec);
    dict.insert(spec.key, Item{at::empty(spec.shape,
                                         at::TensorOptions().dtype(info.storage).device(at::kMeta)),
                               info.opaque ? std::string(info.name) : std::string()});
  }
  return dict;
}

StateDict synthetic_state_dict(const Layout& layout, uint64_t seed) {
  StateDict dict;
  for (const TensorSpec& spec : layout.tensors) {
    const DtypeInfo& info = dtype_info(spec);
    dict.insert(spec.key, Item{synthetic_values(spec, info, seed),
                               info.opaque ? std::string(info.name) : std::string()});
  }
  return dict;
}

}  // namespace chainconv
