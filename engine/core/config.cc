#include "core/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace chainconv {

nlohmann::json read_config_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!config.is_object()) throw Error(path + ": expected a JSON object");
  return config;
}

std::string model_type_of(const nlohmann::json& config, const std::string& path) {
  auto it = config.find("model_type");
  if (it == config.end() || !it->is_string()) throw Error(path + ": no \"model_type\" string");
  return it->get<std::string>();
}

}  // namespace chainconv
