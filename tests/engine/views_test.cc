// aten/views.h: rows made without the dispatcher are exactly what at::unbind gives (values,
// sizes, strides, storage, offsets), for contiguous, strided and offset tensors, on CPU and
// meta; tensors autograd tracks take unbind's way and stay autograd views.
#include <ATen/ATen.h>

#include "aten/views.h"
#include "support/support.h"

using namespace chainconv;

static void check_like_unbind(const at::Tensor& whole, int64_t dim) {
  const std::vector<at::Tensor> rows = rows_of(whole, dim);
  const std::vector<at::Tensor> expected = whole.unbind(dim);
  REQUIRE(rows.size() == expected.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    CHECK(rows[r].sizes() == expected[r].sizes());
    CHECK(rows[r].strides() == expected[r].strides());
    CHECK(rows[r].storage_offset() == expected[r].storage_offset());
    CHECK(rows[r].scalar_type() == whole.scalar_type());
    CHECK(rows[r].device() == whole.device());
    CHECK(rows[r].storage().is_alias_of(whole.storage()));
    if (!whole.is_meta()) CHECK(at::equal(rows[r], expected[r]));
  }
}

TEST_CASE("rows of a tensor are unbind's rows, sharing storage, for every layout of strides") {
  const at::Tensor stacked = at::arange(24, at::kFloat).reshape({4, 2, 3});
  check_like_unbind(stacked, 0);
  check_like_unbind(stacked, 1);
  check_like_unbind(stacked, 2);
  check_like_unbind(stacked.transpose(0, 2), 0);  // not contiguous
  check_like_unbind(stacked.narrow(0, 1, 2), 0);  // a storage offset
  check_like_unbind(stacked.to(at::kBFloat16), 0);
  check_like_unbind(at::empty({128, 768, 2048}, at::TensorOptions().device(at::kMeta)), 0);

  // By hand: row 2 of [4, 2, 3] starts 12 floats in and reads 12..17.
  const at::Tensor row = rows_of(stacked, 0)[2];
  CHECK(row.data_ptr<float>() == stacked.data_ptr<float>() + 12);
  CHECK(row[1][2].item<float>() == 17.0f);
}

TEST_CASE("a write through a row is a write to the whole, seen by its version counter") {
  at::Tensor stacked = at::zeros({3, 2});
  at::Tensor row = rows_of(stacked, 0)[1];
  const auto version = stacked._version();
  row.fill_(5.0);
  CHECK(at::equal(stacked, at::tensor({0.0f, 0.0f, 5.0f, 5.0f, 0.0f, 0.0f}).reshape({3, 2})));
  CHECK(stacked._version() == version + 1);
}

TEST_CASE("rows of a tensor that requires grad are autograd views of it") {
  const at::Tensor leaf = at::arange(6, at::kFloat).reshape({3, 2}).clone().requires_grad_();
  const std::vector<at::Tensor> rows = rows_of(leaf, 0);
  CHECK(rows[2].is_view());
  CHECK(rows[2]._base().is_same(leaf));
  rows[2].sum().backward();
  CHECK(at::equal(leaf.grad(), at::tensor({0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f}).reshape({3, 2})));
}
