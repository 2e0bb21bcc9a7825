// Small text helpers every part of the engine shares: key order as people read it, lists
// joined for messages, shapes written out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chainconv {

// Natural order: digit runs compare as numbers ("layers.2" < "layers.10").
bool natural_less(std::string_view a, std::string_view b);

// "a, b, c"
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// "[4, 8, 16]"
std::string shape_str(const std::vector<int64_t>& shape);

// The keys of a map, joined: for "(known: ...)" lists in messages.
template <class Map>
std::string joined_keys(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& entry : map) keys.push_back(std::string(entry.first));
  return join(keys);
}

}  // namespace chainconv
