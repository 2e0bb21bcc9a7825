#include "core/dtypes.h"

#include <array>
#include <string>

#include "core/error.h"

namespace chainconv {

using Kind = DtypeInfo::Kind;

static const std::array<DtypeInfo, 16> kDtypes = {{
    {"F64", 8, Kind::floating},
    {"F32", 4, Kind::floating},
    {"F16", 2, Kind::floating},
    {"BF16", 2, Kind::floating},
    {"I64", 8, Kind::integer},
    {"I32", 4, Kind::integer},
    {"I16", 2, Kind::integer},
    {"I8", 1, Kind::integer},
    {"U8", 1, Kind::integer},
    {"BOOL", 1, Kind::boolean},
    {"F8_E4M3", 1, Kind::opaque},
    {"F8_E5M2", 1, Kind::opaque},
    {"F8_E8M0", 1, Kind::opaque},
    {"U16", 2, Kind::opaque},
    {"U32", 4, Kind::opaque},
    {"U64", 8, Kind::opaque},
}};

const std::vector<DtypeInfo>& all_dtypes() {
  static const std::vector<DtypeInfo> all(kDtypes.begin(), kDtypes.end());
  return all;
}

const DtypeInfo* find_dtype(std::string_view name) {
  for (const DtypeInfo& info : kDtypes)
    if (info.name == name) return &info;
  return nullptr;
}

const DtypeInfo& dtype_named(std::string_view name) {
  if (const DtypeInfo* info = find_dtype(name)) return *info;
  throw Error("unknown dtype '" + std::string(name) + "'");
}

}  // namespace chainconv
