#include "core/dtypes.h"

#include <array>

#include "core/error.h"
#include "core/state_dict.h"

namespace chainconv {

static const std::array<DtypeInfo, 16> kDtypes = {{
    {"F64", c10::ScalarType::Double, false, 8},
    {"F32", c10::ScalarType::Float, false, 4},
    {"F16", c10::ScalarType::Half, false, 2},
    {"BF16", c10::ScalarType::BFloat16, false, 2},
    {"I64", c10::ScalarType::Long, false, 8},
    {"I32", c10::ScalarType::Int, false, 4},
    {"I16", c10::ScalarType::Short, false, 2},
    {"I8", c10::ScalarType::Char, false, 1},
    {"U8", c10::ScalarType::Byte, false, 1},
    {"BOOL", c10::ScalarType::Bool, false, 1},
    {"F8_E4M3", c10::ScalarType::Byte, true, 1},
    {"F8_E5M2", c10::ScalarType::Byte, true, 1},
    {"F8_E8M0", c10::ScalarType::Byte, true, 1},
    {"U16", c10::ScalarType::Short, true, 2},
    {"U32", c10::ScalarType::Int, true, 4},
    {"U64", c10::ScalarType::Long, true, 8},
}};

const DtypeInfo* find_dtype(std::string_view name) {
  for (const DtypeInfo& info : kDtypes)
    if (info.name == name) return &info;
  return nullptr;
}

std::string_view safetensors_name(c10::ScalarType type) {
  for (const DtypeInfo& info : kDtypes)
    if (!info.opaque && info.storage == type) return info.name;
  throw Error(std::string("dtype ") + c10::toString(type) + " has no safetensors name");
}

std::string dtype_of(const Item& item) {
  return item.opaque_dtype.empty() ? std::string(safetensors_name(item.tensor.scalar_type())) : item.opaque_dtype;
}

}  // namespace chainconv
