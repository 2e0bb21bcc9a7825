// safetensors dtype names <-> how the engine holds them. Dtypes this LibTorch cannot compute
// on (FP8, unsigned 16/32/64-bit) are held as a same-width integer tensor plus their name in
// Item::opaque_dtype, so they move as bytes through rename / stack / split.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>
#include <string_view>

namespace chainconv {

struct Item;

struct DtypeInfo {
  std::string_view name;    // as written in a safetensors header: "BF16", "F8_E4M3", ...
  c10::ScalarType storage;  // the ATen dtype holding the elements
  bool opaque;              // true: bytes only, no arithmetic
  size_t itemsize;          // bytes per element
};

// nullptr for a name safetensors does not define or this build cannot carry.
const DtypeInfo* find_dtype(std::string_view safetensors_name);
// The safetensors name of a (non-opaque) ATen dtype; throws Error for one safetensors lacks.
std::string_view safetensors_name(c10::ScalarType type);
// The safetensors name of an item, opaque or not.
std::string dtype_of(const Item& item);

}  // namespace chainconv
