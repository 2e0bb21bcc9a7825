// Views made without a dispatcher round trip each: unstacking a model's experts makes tens of
// thousands of them at every export.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace chainconv {

// The rows of `whole` along `dim` (what at::unbind gives), sharing its storage and version
// counter. For a plain strided tensor autograd does not track, each row's TensorImpl is made
// directly from the whole's storage, sizes and strides, as ATen's own view kernels do below
// autograd: one allocation per row instead of a select through the dispatcher and autograd's
// view bookkeeping (about 10x cheaper). Such a row is not an autograd view of `whole`
// (`_base` is unset), which nothing that does not require grad can observe through values.
// Anything else (requires grad, a tensor subclass or wrapper, named, not strided) goes
// through at::unbind.
std::vector<at::Tensor> rows_of(const at::Tensor& whole, int64_t dim);

}  // namespace chainconv
