#include "core/params.h"

namespace chainconv {

std::string substitute_params(const std::string& text,
                              const std::function<const std::string*(const std::string&)>& lookup,
                              const Position& pos, const std::string& kind,
                              const std::string& hint) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find("${", i);
    if (start == std::string::npos) {
      out += text.substr(i);
      break;
    }
    out += text.substr(i, start - i);
    size_t end = text.find('}', start);
    if (end == std::string::npos) throw Error(pos, "'${' without a closing '}' in '" + text + "'");
    std::string name = text.substr(start + 2, end - start - 2);
    const std::string* value = lookup(name);
    if (!value) throw Error(pos, "unknown " + kind + " ${" + name + "}" + hint);
    out += *value;
    i = end + 1;
  }
  return out;
}

}  // namespace chainconv
