// The tensor work of each value transform (ops/transforms.h), in ATen ops only: they run on
// whatever device the inputs live on and never read values on the host.
#pragma once

#include <ATen/core/Tensor.h>

#include <string_view>
#include <vector>

namespace chainconv {

struct Transform;

// The transform applied to `inputs`; throws Error for a transform without a kernel.
at::Tensor apply_transform(const Transform& transform, const std::vector<at::Tensor>& inputs);
// The names of the transforms that have a kernel (for the test that both lists agree).
std::vector<std::string_view> kernel_names();

}  // namespace chainconv
