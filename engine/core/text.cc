#include "core/text.h"

namespace chainconv {

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool natural_less(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      // Compare numerically without overflow: strip leading zeros, then length, then digits.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      int c = a.substr(is, ie - is).compare(b.substr(js, je - js));
      if (c != 0) return c < 0;
      if (ie - i != je - j) return ie - i < je - j;  // "01" after "1": stable, total
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string natural_sort_key(std::string_view s) {
  // A digit run becomes its length (two digits) and its digits without leading zeros, so
  // that a longer number sorts after a shorter one and equal lengths compare digit by digit.
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    if (!is_digit(s[i])) {
      out += s[i++];
      continue;
    }
    size_t end = i;
    while (end < s.size() && is_digit(s[end])) ++end;
    size_t start = i;
    while (start + 1 < end && s[start] == '0') ++start;
    const size_t length = std::min<size_t>(end - start, 99);
    out += '0';  // below every letter and '.', as a digit is in natural_less
    out += static_cast<char>('0' + length / 10);
    out += static_cast<char>('0' + length % 10);
    out.append(s.substr(start, end - start));
    i = end;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += items[i];
  }
  return out;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace chainconv
