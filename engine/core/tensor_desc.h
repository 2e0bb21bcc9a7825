// A tensor description: everything the engine reasons about without touching data. A dtype
// (by safetensors name, opaque dtypes included), a shape, and where the bytes are: a strided
// view (byte offset, strides in elements) of the storage of one slot of a step program,
// either an input tensor or the fresh output of a step that makes new data (a stack, a
// concatenation, a computed value, a created tensor). No LibTorch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dims.h"
#include "core/dtypes.h"

namespace chainconv {

struct TensorDesc {
  const DtypeInfo* dtype = nullptr;
  Dims shape;
  Dims strides;          // in elements
  uint64_t offset = 0;   // in bytes, into the storage
  uint32_t storage = 0;  // the slot whose storage this views
  // The dim that numbers experts, as a stack with the expert offset made it (-1: none): on an
  // expert-parallel shard it holds only the shard's experts, so an op that needs the whole
  // dim (merging, splitting or concatenating along it) is refused there.
  int32_t expert_dim = -1;

  // A contiguous tensor that owns its storage (the storage is slot `storage` itself).
  static TensorDesc fresh(const DtypeInfo& dtype, Dims shape, uint32_t storage);

  int64_t numel() const;
  uint64_t nbytes() const { return static_cast<uint64_t>(numel()) * dtype->itemsize; }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  bool contiguous() const;
  // "[4, 8] BF16"
  std::string str() const;
  // Same dtype and shape (where the bytes come from aside).
  bool same_kind(const TensorDesc& other) const {
    return dtype == other.dtype && shape == other.shape;
  }
};

// A named tensor as a key set lists it (a layout, a checkpoint's headers, a state dict): what
// a step program's input is.
struct TensorSpec {
  std::string key;
  Dims shape;
  const DtypeInfo* dtype = nullptr;
};

// Row-major strides of `shape`, in elements.
Dims contiguous_strides(const Dims& shape);

// The strides a view of `shape` / `strides` reshaped to `new_shape` (same element count) has,
// or an empty result with `ok` false when no view can express it (the data must be copied).
struct ReshapedStrides {
  bool ok = false;
  Dims strides;
};
ReshapedStrides reshaped_strides(const Dims& shape, const Dims& strides, const Dims& new_shape);
// Where dim `dim` of `shape` is in `new_shape` (same element count) when it stays a dim of its
// own there (same size, same element count before it), or -1.
int64_t reshaped_dim(const Dims& shape, int64_t dim, const Dims& new_shape);

}  // namespace chainconv
