#include "ops/transforms.h"

#include <string>

#include "core/error.h"

namespace chainconv {

const std::vector<Transform>& transforms() {
  static const std::vector<Transform> all = {
      {"identity", "identity", "x"},
      {"negate", "negate", "-x"},
      {"subtract_min", "", "x - min(x): shift so the smallest value is 0"},
      // The FP8 block codec (TARGETS.md 4.3-4.5), integers [block_rows, block_cols].
      {"fp8_block_dequantize", "",
       "E4M3 bytes [..., R, C] x scale [..., ceil(R/b0), ceil(C/b1)] -> value * scale", false},
      {"fp8_block_scale", "", "x [..., R, C] -> max(amax of each block, 1e-4) / 448, one per block",
       false},
      {"fp8_block_quantize", "",
       "x, scale -> E4M3 bytes of x / scale, round to nearest even, saturating at 448", false},
      // The MXFP4 codec (TARGETS.md 5.2): 32 values share an E8M0 exponent.
      {"mxfp4_dequantize", "", "E2M1 blocks [..., G, 16] x E8M0 scales [..., G] -> [..., 32 G]",
       false},
      {"mxfp4_scale", "", "x [..., 32 G] -> E8M0 exponent of each group's amax, minus 2", false},
      {"mxfp4_quantize", "",
       "x, scales -> E2M1 codes of x / 2^(scale - 127), two per byte, low nibble first", false},
  };
  return all;
}

const Transform* find_transform(std::string_view name) {
  for (const Transform& t : transforms())
    if (t.name == name) return &t;
  return nullptr;
}

const Transform& transform_named(std::string_view name) {
  if (const Transform* t = find_transform(name)) return *t;
  throw Error("internal error: no transform '" + std::string(name) + "'");
}

}  // namespace chainconv
