#include "aten/views.h"

#include <ATen/core/TensorBody.h>
#include <ATen/ops/unbind.h>
#include <c10/core/TensorImpl.h>

#include <typeinfo>

namespace chainconv {
namespace {

bool plain_untracked(const at::Tensor& t) {
  const c10::TensorImpl* impl = t.unsafeGetTensorImpl();
  return typeid(*impl) == typeid(c10::TensorImpl) && t.layout() == at::kStrided &&
         !t.requires_grad() && !t.has_names() && impl->has_storage() &&
         !impl->key_set().has(c10::DispatchKey::Python) &&
         !impl->key_set().has(c10::DispatchKey::Functionalize) && !impl->is_nested();
}

}  // namespace

std::vector<at::Tensor> rows_of(const at::Tensor& whole, int64_t dim) {
  if (!plain_untracked(whole)) return whole.unbind(dim);
  c10::TensorImpl* impl = whole.unsafeGetTensorImpl();
  const int64_t rows = whole.size(dim), step = whole.stride(dim);
  std::vector<int64_t> sizes = whole.sizes().vec(), strides = whole.strides().vec();
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  const int64_t offset = whole.storage_offset();
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    at::Tensor row = at::detail::make_tensor<c10::TensorImpl>(
        c10::TensorImpl::VIEW, c10::Storage(impl->storage()), impl->key_set(), whole.dtype());
    c10::TensorImpl* row_impl = row.unsafeGetTensorImpl();
    row_impl->set_sizes_and_strides(sizes, strides, offset + r * step);
    row_impl->set_version_counter(impl->version_counter());
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace chainconv
