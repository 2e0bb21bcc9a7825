// The value-transform vocabulary of `map` ops (defined in ops/value_map.cc), for the op and
// for the checks (schema-vs-engine test, lossy-step analysis).
#pragma once

#include <ATen/core/Tensor.h>

#include <string_view>
#include <vector>

namespace chainconv {

struct Transform {
  std::string_view name;
  std::string_view inverse;  // the transform that undoes it exactly; "" if none
  std::string_view doc;
  at::Tensor (*apply)(const at::Tensor&);
};

const std::vector<Transform>& transforms();
// The transform called `name`, or nullptr.
const Transform* find_transform(std::string_view name);

}  // namespace chainconv
