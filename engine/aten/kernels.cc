#include "aten/kernels.h"

#include <ATen/ATen.h>

#include <string>

#include "core/error.h"
#include "ops/transforms.h"

namespace chainconv {
namespace {

using Kernel = at::Tensor (*)(const std::vector<at::Tensor>&);

struct Entry {
  std::string_view name;
  Kernel kernel;
};

const std::vector<Entry>& kernels() {
  static const std::vector<Entry> all = {
      {"identity", [](const std::vector<at::Tensor>& x) { return x.front(); }},
      {"negate", [](const std::vector<at::Tensor>& x) { return x.front().neg(); }},
      {"subtract_min",
       [](const std::vector<at::Tensor>& x) {
         const at::Tensor& t = x.front();
         return t.numel() == 0 ? t : t.sub(t.min());
       }},
  };
  return all;
}

}  // namespace

at::Tensor apply_transform(const Transform& transform, const std::vector<at::Tensor>& inputs) {
  for (const Entry& e : kernels())
    if (e.name == transform.name) return e.kernel(inputs);
  throw Error("internal error: the transform '" + std::string(transform.name) + "' has no kernel");
}

std::vector<std::string_view> kernel_names() {
  std::vector<std::string_view> names;
  for (const Entry& e : kernels()) names.push_back(e.name);
  return names;
}

}  // namespace chainconv
