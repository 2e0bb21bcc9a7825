#include "core/config.h"

#include "core/error.h"
#include "core/json_parse.h"
#include "core/read_file.h"

namespace chainconv {

nlohmann::json read_config_file(const std::string& path, const std::string& what) {
  nlohmann::json config = parse_json(read_regular_file(path, kMaxTextFileSize, what), path);
  if (!config.is_object()) throw Error(path + ": expected a JSON object");
  return config;
}

std::string model_type_of(const nlohmann::json& config, const std::string& path) {
  auto it = config.find("model_type");
  if (it == config.end() || !it->is_string()) throw Error(path + ": no \"model_type\" string");
  return it->get<std::string>();
}

}  // namespace chainconv
