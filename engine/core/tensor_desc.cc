#include "core/tensor_desc.h"

#include "core/text.h"

namespace chainconv {

Dims contiguous_strides(const Dims& shape) {
  Dims strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

TensorDesc TensorDesc::fresh(const DtypeInfo& dtype, Dims shape, uint32_t storage) {
  TensorDesc d;
  d.dtype = &dtype;
  d.strides = contiguous_strides(shape);
  d.shape = std::move(shape);
  d.storage = storage;
  return d;
}

int64_t TensorDesc::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool TensorDesc::contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

// As ATen's view rule: runs of input dims that are contiguous with each other ("chunks")
// can be regrouped freely; a chunk boundary must also be a boundary of the new shape.
ReshapedStrides reshaped_strides(const Dims& shape, const Dims& strides, const Dims& new_shape) {
  ReshapedStrides out;
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel == 0 || shape.empty()) {
    out.ok = true;
    out.strides = contiguous_strides(new_shape);
    return out;
  }
  out.strides.assign(new_shape.size(), 0);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= shape[tensor_d];
    if (tensor_d == 0 ||
        (shape[tensor_d - 1] != 1 && strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out.strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return ReshapedStrides{};
      if (tensor_d > 0) {
        chunk_base_stride = strides[tensor_d - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return ReshapedStrides{};
  out.ok = true;
  return out;
}

int64_t reshaped_dim(const Dims& shape, int64_t dim, const Dims& new_shape) {
  int64_t before = 1;
  for (int64_t d = 0; d < dim; ++d) before *= shape[d];
  int64_t new_before = 1;
  for (size_t d = 0; d < new_shape.size(); ++d) {
    if (new_before == before && new_shape[d] == shape[dim]) return static_cast<int64_t>(d);
    new_before *= new_shape[d];
    if (new_before > before && before != 0) break;
  }
  return -1;
}

std::string TensorDesc::str() const { return shape_str(shape) + " " + std::string(dtype->name); }

}  // namespace chainconv
