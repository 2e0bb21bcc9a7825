// How the ATen executor holds each safetensors dtype (core/dtypes.h): the ATen dtype of
// its elements. Opaque dtypes (FP8, unsigned wider than 8 bits) are held in a same-width
// integer dtype, with their name kept beside the tensor (Item::opaque_dtype).
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

#include <string>

#include "core/dims.h"
#include "core/dtypes.h"

namespace chainconv {

struct Item;

c10::ScalarType storage_type(const DtypeInfo& dtype);
// The dtype of a non-opaque ATen dtype; throws Error for one safetensors lacks.
const DtypeInfo& dtype_of(c10::ScalarType type);
// The dtype of an item, opaque or not.
const DtypeInfo& dtype_of(const Item& item);
// A tensor's sizes as a description holds them (no allocation up to Dims::kInline dims).
inline Dims dims_of(c10::IntArrayRef sizes) { return Dims(sizes.begin(), sizes.end()); }

}  // namespace chainconv
