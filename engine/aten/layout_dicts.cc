#include "aten/layout_dicts.h"

#include <ATen/ops/empty.h>

#include <cstring>

#include "aten/dtypes.h"

namespace chainconv {

static std::string opaque_name(const DtypeInfo& dtype) {
  return dtype.opaque() ? std::string(dtype.name) : std::string();
}

Item item_from_bytes(const DtypeInfo& dtype, const std::vector<int64_t>& shape,
                     const uint8_t* bytes) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(storage_type(dtype)));
  if (t.numel() > 0) std::memcpy(t.data_ptr(), bytes, static_cast<size_t>(t.nbytes()));
  return Item{t, opaque_name(dtype)};
}

StateDict meta_state_dict(const Layout& layout) {
  StateDict dict;
  for (const TensorSpec& spec : layout.tensors)
    dict.insert(
        spec.key,
        Item{at::empty(spec.shape,
                       at::TensorOptions().dtype(storage_type(*spec.dtype)).device(at::kMeta)),
             opaque_name(*spec.dtype)});
  return dict;
}

StateDict synthetic_state_dict(const Layout& layout, uint64_t seed) {
  StateDict dict;
  for (const TensorSpec& spec : layout.tensors) {
    const std::vector<uint8_t> bytes = synthetic_bytes(spec, seed);
    dict.insert(spec.key, item_from_bytes(*spec.dtype, spec.shape, bytes.data()));
  }
  return dict;
}

}  // namespace chainconv
