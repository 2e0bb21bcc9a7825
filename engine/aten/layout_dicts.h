// State dicts of real or meta tensors made from a layout, for tests, benchmarks and the
// public API's examples: the layout's key set as meta tensors (no data), and its synthetic
// checkpoint (layout/layout.h's synthetic_bytes) as CPU tensors.
#pragma once

#include "aten/state_dict.h"
#include "layout/layout.h"

namespace chainconv {

StateDict meta_state_dict(const Layout& layout);
StateDict synthetic_state_dict(const Layout& layout, uint64_t seed);

// A tensor holding a copy of `bytes` as `dtype` of `shape` (opaque dtypes as their storage).
Item item_from_bytes(const DtypeInfo& dtype, const std::vector<int64_t>& shape,
                     const uint8_t* bytes);

}  // namespace chainconv
