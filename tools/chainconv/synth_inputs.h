// What synth and demo build a synthetic checkpoint from: a config (--config, or the model
// type's tiny config) and a layout file (--layout-file, or the one serving the model type),
// looked up in the chains directories (--chains-dir, then the default).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "layout/layout.h"

namespace chainconv::cli {

struct LayoutInputs {
  std::string config, layout_file;
  std::vector<std::string> chains_dirs;
};

// Registers --config FILE, --layout-file FILE and --chains-dir DIR on `cmd`.
void add_layout_input_options(CLI::App* cmd, LayoutInputs& inputs);

struct LoadedLayout {
  std::string model_type;
  nlohmann::json config;
  std::string config_source;  // the --config file, or "the tiny config ..."
  std::string layout_file;
  Layout layout;
};

// The config and layout for `model_type` ("" to take it from --config). The config is
// --config, else the tiny config beside --layout-file, else the model type's tiny config in
// the chains directories. Throws Error when --config names another model type.
LoadedLayout load_layout_inputs(const std::string& model_type, const LayoutInputs& inputs,
                                ExpertLayout experts);

}  // namespace chainconv::cli
