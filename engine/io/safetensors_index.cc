#include "io/safetensors_index.h"

#include "core/error.h"
#include "core/json_parse.h"

namespace chainconv {

std::map<std::string, std::string> parse_safetensors_index(const std::string& path,
                                                           std::string_view text) {
  JsonParseOptions limits;
  // Two entries for one tensor would name two shards for it; nothing says which is meant.
  limits.reject_duplicate_keys = true;
  const nlohmann::json index = parse_json(text, path, limits);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error(path + ": expected an object with a 'weight_map'");
  std::map<std::string, std::string> weight_map;
  for (const auto& [key, file] : index["weight_map"].items()) {
    if (!file.is_string()) throw Error(path + ": weight_map entry '" + key + "' must name a file");
    std::string name = file.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      throw Error(path + ": weight_map entry '" + key + "' names '" + name +
                  "', which is not a file name in the checkpoint directory");
    weight_map[key] = name;
  }
  return weight_map;
}

}  // namespace chainconv
