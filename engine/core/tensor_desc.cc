#include "core/tensor_desc.h"

#include "core/text.h"

namespace chainconv {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

TensorDesc TensorDesc::fresh(const DtypeInfo& dtype, std::vector<int64_t> shape, uint32_t storage) {
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

std::string TensorDesc::str() const { return shape_str(shape) + " " + std::string(dtype->name); }

}  // namespace chainconv
