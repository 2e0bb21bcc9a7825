#include "aten/kernels.h"

#include <ATen/ATen.h>

#include <string>

#include "core/error.h"
#include "ops/transforms.h"

namespace chainconv {
namespace {

using Kernel = at::Tensor (*)(const KernelArgs&);

struct Entry {
  std::string_view name;
  Kernel kernel;
};

const std::vector<Entry>& kernels() {
  static const std::vector<Entry> all = {
      {"identity", [](const KernelArgs& a) { return a.inputs.front(); }},
      {"negate", [](const KernelArgs& a) { return a.inputs.front().neg(); }},
      {"subtract_min",
       [](const KernelArgs& a) {
         const at::Tensor& t = a.inputs.front();
         return t.numel() == 0 ? t : t.sub(t.min());
       }},
      {"fp8_block_dequantize", fp8_block_dequantize},
      {"fp8_block_scale", fp8_block_scale},
      {"fp8_block_quantize", fp8_block_quantize},
      {"mxfp4_dequantize", mxfp4_dequantize},
      {"mxfp4_scale", mxfp4_scale},
      {"mxfp4_quantize", mxfp4_quantize},
  };
  return all;
}

}  // namespace

at::Tensor apply_transform(const Transform& transform, const KernelArgs& args) {
  for (const Entry& e : kernels())
    if (e.name == transform.name) return e.kernel(args);
  throw Error("internal error: the transform '" + std::string(transform.name) + "' has no kernel");
}

std::vector<std::string_view> kernel_names() {
  std::vector<std::string_view> names;
  for (const Entry& e : kernels()) names.push_back(e.name);
  return names;
}

}  // namespace chainconv
