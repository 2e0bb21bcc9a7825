#include "aten/dtypes.h"

#include <array>
#include <utility>

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

// The safetensors dtype of each ATen scalar type that has one, looked up by name once: a
// repeated conversion asks for every input's.
const DtypeInfo& dtype_of(c10::ScalarType type) {
  using Table = std::array<const DtypeInfo*, static_cast<size_t>(c10::ScalarType::NumOptions)>;
  static const Table table = [] {
    Table t{};
    const std::pair<c10::ScalarType, const char*> names[] = {
        {c10::ScalarType::Double, "F64"}, {c10::ScalarType::Float, "F32"},
        {c10::ScalarType::Half, "F16"},   {c10::ScalarType::BFloat16, "BF16"},
        {c10::ScalarType::Long, "I64"},   {c10::ScalarType::Int, "I32"},
        {c10::ScalarType::Short, "I16"},  {c10::ScalarType::Char, "I8"},
        {c10::ScalarType::Byte, "U8"},    {c10::ScalarType::Bool, "BOOL"}};
    for (const auto& [scalar, name] : names) t[static_cast<size_t>(scalar)] = &dtype_named(name);
    return t;
  }();
  const size_t index = static_cast<size_t>(type);
  if (index < table.size() && table[index]) return *table[index];
  throw Error(std::string("dtype ") + c10::toString(type) + " has no safetensors name");
}

const DtypeInfo& dtype_of(const Item& item) {
  return item.opaque_dtype.empty() ? dtype_of(item.tensor.scalar_type())
                                   : dtype_named(item.opaque_dtype);
}

}  // namespace chainconv
