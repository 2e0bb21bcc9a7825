// Tensors of a safetensors file: meta tensors for planning, zero-copy views of a mapping
// for conversion. The header format and its validation are in safetensors_header.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "core/state_dict.h"
#include "io/safetensors_header.h"

namespace chainconv {

class MappedFile;

// A tensor of the entry's shape and dtype holding no data, for planning and checks.
Item meta_item(const TensorEntry& entry);
// A zero-copy view of the entry's bytes in `file` (which must be the entry's file); the
// tensor keeps the mapping alive. Opaque dtypes (FP8, ...) come back as same-width integer
// tensors with Item::opaque_dtype set.
Item mapped_item(const std::shared_ptr<MappedFile>& file, const TensorEntry& entry);

}  // namespace chainconv
