// config.json, read once the same way everywhere (a checkpoint's, a layout's shipped tiny
// and full-size configs, chainlint --config, synth --config): parsed, required to be a JSON
// object, every error naming the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace chainconv {

// `what` names the file in messages ("config" for one given on a command line).
nlohmann::json read_config_file(const std::string& path, const std::string& what = "");

// Its "model_type" field; throws Error naming `path` when there is none.
std::string model_type_of(const nlohmann::json& config, const std::string& path);

}  // namespace chainconv
