// The tensor work of each value transform (ops/transforms.h), in ATen ops only: they run on
// whatever device the inputs live on and never read values on the host.
#pragma once

#include <ATen/core/Tensor.h>

#include <string_view>
#include <vector>

namespace chainconv {

struct Transform;

// What a kernel is given: the step's inputs, its integer arguments (a block size), and the
// ATen dtype its output must have.
struct KernelArgs {
  const std::vector<at::Tensor>& inputs;
  const std::vector<int64_t>& integers;
  c10::ScalarType output_type;
};

// The transform applied to `args`; throws Error for a transform without a kernel.
at::Tensor apply_transform(const Transform& transform, const KernelArgs& args);
// The names of the transforms that have a kernel (for the test that both lists agree).
std::vector<std::string_view> kernel_names();

// The dtype codecs (aten/quant_kernels.cc), for the kernel table and for tests.
at::Tensor fp8_block_dequantize(const KernelArgs& args);
at::Tensor fp8_block_scale(const KernelArgs& args);
at::Tensor fp8_block_quantize(const KernelArgs& args);
at::Tensor mxfp4_dequantize(const KernelArgs& args);
at::Tensor mxfp4_scale(const KernelArgs& args);
at::Tensor mxfp4_quantize(const KernelArgs& args);

}  // namespace chainconv
