#include "ops/op_util.h"

#include <algorithm>

namespace chainconv {

void require_same_placeholders(const KeyTemplate& source, const KeyTemplate& target,
                               const std::vector<std::string>& except) {
  auto excluded = [&](const std::string& n) {
    return std::find(except.begin(), except.end(), n) != except.end();
  };
  for (const std::string& name : target.placeholder_names())
    if (!excluded(name) && !source.has_placeholder(name))
      throw Error(target.pos(), "placeholder {" + name + "} in '" + target.text() +
                                    "' is not bound by '" + source.text() + "'");
  for (const std::string& name : source.placeholder_names())
    if (!excluded(name) && !target.has_placeholder(name))
      throw Error(target.pos(), "'" + target.text() + "' drops placeholder {" + name + "} of '" +
                                    source.text() + "', so distinct keys would collide");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace chainconv
