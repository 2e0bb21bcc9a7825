// The dtypes a tensor description can have, by their safetensors names. Some have no
// arithmetic in this LibTorch (FP8, unsigned 16/32/64-bit): they are "opaque", moving as
// bytes through renames, views, stacks and concatenations; computing on them is an error.
// How the ATen executor holds each dtype is in aten/dtypes.h.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace chainconv {

struct DtypeInfo {
  enum class Kind { floating, integer, boolean, opaque };
  std::string_view name;  // as written in a safetensors header: "BF16", "F8_E4M3", ...
  size_t itemsize;        // bytes per element
  Kind kind;

  bool opaque() const { return kind == Kind::opaque; }
  bool floating() const { return kind == Kind::floating; }
};

// Every dtype, in a fixed order (the layout schema's dtype list is checked against it).
const std::vector<DtypeInfo>& all_dtypes();
// nullptr for a name safetensors does not define or this build cannot carry.
const DtypeInfo* find_dtype(std::string_view safetensors_name);
// The dtype called `name`; throws Error naming it when there is none.
const DtypeInfo& dtype_named(std::string_view name);

}  // namespace chainconv
