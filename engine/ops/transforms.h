// The vocabulary of value transforms: what a `compute` step of the step program may do to
// values. Defined here by name, inverse and documentation (the ops and the checks use them);
// each one's tensor work is its kernel in aten/kernels.cc (aten/quant_kernels.cc for the
// dtype codecs), written with ATen ops only so that it runs on any device. A test checks that
// both lists name the same transforms.
//
// Two kinds: the `map` op's transforms (one input, shape and dtype kept), and the codecs the
// dequantizing ops lower to (several inputs, a new dtype and shape, integer arguments such as
// a block size; the op that makes the step checks its inputs and says its output).
#pragma once

#include <string_view>
#include <vector>

namespace chainconv {

struct Transform {
  std::string_view name;
  std::string_view inverse;  // the transform that undoes it exactly; "" if none
  std::string_view doc;
  bool for_map = true;  // `map` may name it (else only an op's lowering makes it)
};

const std::vector<Transform>& transforms();
// The transform called `name`, or nullptr.
const Transform* find_transform(std::string_view name);
// The transform called `name`; throws an internal Error when there is none.
const Transform& transform_named(std::string_view name);

}  // namespace chainconv
