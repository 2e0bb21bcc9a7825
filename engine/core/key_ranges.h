// Compresses lists of keys for people: keys that differ only in numeric segments collapse to
// one line with ranges, e.g. 128 keys -> "model.layers.3.mlp.experts.{0..127}.up_proj.weight".
#pragma once

#include <string>
#include <vector>

namespace chainconv {

struct KeyGroup {
  std::string pattern;  // the keys with each varying numeric segment written as a range
  size_t count = 0;     // how many keys it stands for
};

// Groups in order of first appearance. Ranges are "{a..b}" when contiguous, "{a,b,c}" otherwise.
std::vector<KeyGroup> compress_keys(const std::vector<std::string>& keys);

// The patterns joined with ", ".
std::string compress_keys_str(const std::vector<std::string>& keys);

}  // namespace chainconv
