// Small text helpers every part of the engine shares: key order as people read it, lists
// joined for messages, shapes written out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chainconv {

// Natural order: digit runs compare as numbers ("layers.2" < "layers.10").
bool natural_less(std::string_view a, std::string_view b);

// Sorts `items` by natural_less of key(item). Most lists handed here are in that order
// already (checked in one pass); otherwise each key is compared once as a string whose
// digit runs are padded to one width, so a sort of many keys costs string compares only.
template <class T, class Key>
void sort_naturally(std::vector<T>& items, Key key);

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

// The key whose plain (byte) order is the natural order of `s`, ties aside.
std::string natural_sort_key(std::string_view s);

template <class T, class Key>
void sort_naturally(std::vector<T>& items, Key key) {
  bool sorted = true;
  for (size_t i = 1; i < items.size() && sorted; ++i)
    sorted = !natural_less(key(items[i]), key(items[i - 1]));
  if (sorted) return;
  std::vector<std::pair<std::string, size_t>> order;
  order.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) order.emplace_back(natural_sort_key(key(items[i])), i);
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return natural_less(key(items[a.second]), key(items[b.second]));
  });
  std::vector<T> out;
  out.reserve(items.size());
  for (const auto& [sort_key, i] : order) out.push_back(std::move(items[i]));
  items = std::move(out);
}

}  // namespace chainconv
