#include "core/key_ranges.h"

#include <algorithm>
#include <map>
#include <set>

namespace chainconv {

static bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         (s.size() == 1 || s[0] != '0');
}

static std::vector<std::string> split_segments(const std::string& key) {
  std::vector<std::string> segs;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    segs.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return segs;
}

static std::string render_set(const std::set<long long>& values) {
  if (values.size() == 1) return std::to_string(*values.begin());
  bool contiguous = *values.rbegin() - *values.begin() + 1 == static_cast<long long>(values.size());
  if (contiguous) return "{" + std::to_string(*values.begin()) + ".." + std::to_string(*values.rbegin()) + "}";
  std::string s;
  for (long long v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return "{" + s + "}";
}

std::vector<KeyGroup> compress_keys(const std::vector<std::string>& keys) {
  struct Group {
    std::vector<std::string> segs;               // numeric segments left empty
    std::vector<std::set<long long>> values;     // per segment (used for numeric ones)
    size_t count = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Group> groups;
  for (const std::string& key : keys) {
    std::vector<std::string> segs = split_segments(key);
    std::string signature;
    for (const std::string& s : segs) signature += (is_number(s) ? std::string("#") : s) + ".";
    auto [it, inserted] = groups.try_emplace(signature);
    Group& g = it->second;
    if (inserted) {
      order.push_back(signature);
      g.segs = segs;
      g.values.resize(segs.size());
    }
    for (size_t i = 0; i < segs.size(); ++i)
      if (is_number(segs[i])) g.values[i].insert(std::stoll(segs[i]));
    ++g.count;
  }
  std::vector<KeyGroup> result;
  for (const std::string& signature : order) {
    const Group& g = groups[signature];
    std::string pattern;
    for (size_t i = 0; i < g.segs.size(); ++i) {
      if (i) pattern += ".";
      pattern += g.values[i].empty() ? g.segs[i] : render_set(g.values[i]);
    }
    result.push_back({pattern, g.count});
  }
  return result;
}

std::string compress_keys_str(const std::vector<std::string>& keys) {
  std::string s;
  for (const KeyGroup& g : compress_keys(keys)) s += (s.empty() ? "" : ", ") + g.pattern;
  return s;
}

}  // namespace chainconv
