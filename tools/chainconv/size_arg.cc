#include "chainconv/size_arg.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/error.h"

namespace chainconv::cli {

uint64_t parse_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::vector<std::pair<std::string, uint64_t>> units = {{"", 1},
                                                                      {"B", 1},
                                                                      {"KB", 1000ull},
                                                                      {"MB", 1000000ull},
                                                                      {"GB", 1000000000ull},
                                                                      {"TB", 1000000000000ull},
                                                                      {"KIB", 1ull << 10},
                                                                      {"MIB", 1ull << 20},
                                                                      {"GIB", 1ull << 30},
                                                                      {"TIB", 1ull << 40}};
  auto it =
      std::find_if(units.begin(), units.end(), [&](const auto& u) { return u.first == unit; });
  if (i == 0 || i > 15 || it == units.end())
    throw Error("invalid size '" + text +
                "' (expected e.g. 5GB, 500MB, 2GiB or a number of bytes)");
  uint64_t value = std::stoull(text.substr(0, i));
  if (value == 0) throw Error("invalid size '" + text + "': must be positive");
  if (value > UINT64_MAX / it->second) throw Error("invalid size '" + text + "': too large");
  return value * it->second;
}

}  // namespace chainconv::cli
