// The vocabulary of value transforms: what a `compute` step of the step program may do to
// values. Defined here by name, inverse and documentation (the `map` op and the checks use
// them); each one's tensor work is its kernel in aten/kernels.cc, written with ATen ops only
// so that it runs on any device. A test checks that both lists name the same transforms.
#pragma once

#include <string_view>
#include <vector>

namespace chainconv {

struct Transform {
  std::string_view name;
  std::string_view inverse;  // the transform that undoes it exactly; "" if none
  std::string_view doc;
};

const std::vector<Transform>& transforms();
// The transform called `name`, or nullptr.
const Transform* find_transform(std::string_view name);

}  // namespace chainconv
