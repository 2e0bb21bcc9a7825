#include "aten/dtypes.h"

#include "aten/state_dict.h"
#include "core/error.h"

namespace chainconv {

c10::ScalarType storage_type(const DtypeInfo& dtype) {
  const std::string_view n = dtype.name;
  if (n == "F64") return c10::ScalarType::Double;
  if (n == "F32") return c10::ScalarType::Float;
  if (n == "F16") return c10::ScalarType::Half;
  if (n == "BF16") return c10::ScalarType::BFloat16;
  if (n == "BOOL") return c10::ScalarType::Bool;
  if (n == "U8") return c10::ScalarType::Byte;
  switch (dtype.itemsize) {  // signed integers, and opaque dtypes by width
    case 1:
      return dtype.opaque() ? c10::ScalarType::Byte : c10::ScalarType::Char;
    case 2:
      return c10::ScalarType::Short;
    case 4:
      return c10::ScalarType::Int;
    default:
      return c10::ScalarType::Long;
  }
}

const DtypeInfo& dtype_of(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Double:
      return dtype_named("F64");
    case c10::ScalarType::Float:
      return dtype_named("F32");
    case c10::ScalarType::Half:
      return dtype_named("F16");
    case c10::ScalarType::BFloat16:
      return dtype_named("BF16");
    case c10::ScalarType::Long:
      return dtype_named("I64");
    case c10::ScalarType::Int:
      return dtype_named("I32");
    case c10::ScalarType::Short:
      return dtype_named("I16");
    case c10::ScalarType::Char:
      return dtype_named("I8");
    case c10::ScalarType::Byte:
      return dtype_named("U8");
    case c10::ScalarType::Bool:
      return dtype_named("BOOL");
    default:
      throw Error(std::string("dtype ") + c10::toString(type) + " has no safetensors name");
  }
}

const DtypeInfo& dtype_of(const Item& item) {
  return item.opaque_dtype.empty() ? dtype_of(item.tensor.scalar_type())
                                   : dtype_named(item.opaque_dtype);
}

}  // namespace chainconv
