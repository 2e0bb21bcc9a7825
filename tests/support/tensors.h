// Deterministic test tensors, with no engine headers: shared by the engine tests and the
// public-API tests (which must see only <chainconv/chainconv.h>).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace chainconv::testing {

// A tensor whose values are start, start+1, ... so every element is distinguishable.
inline at::Tensor counting(std::vector<int64_t> shape, double start = 0, at::ScalarType dtype = at::kFloat) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return at::arange(start, start + static_cast<double>(n), at::TensorOptions().dtype(at::kDouble))
      .reshape(shape)
      .to(dtype);
}

}  // namespace chainconv::testing
