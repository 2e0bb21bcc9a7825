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

std::map<std::string, std::string> param_assignments(const std::vector<std::string>& sets,
                                                     const std::string& hf_experts) {
  std::map<std::string, std::string> params;
  auto add = [&](const std::string& name, const std::string& value, const std::string& as) {
    if (!params.emplace(name, value).second)
      throw Error(as + ": parameter '" + name + "' is set twice");
  };
  for (const std::string& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--set " + set + ": expected NAME=VALUE");
    add(set.substr(0, eq), set.substr(eq + 1), "--set " + set);
  }
  if (!hf_experts.empty()) add("hf_experts", hf_experts, "--hf-experts " + hf_experts);
  return params;
}

}  // namespace chainconv
