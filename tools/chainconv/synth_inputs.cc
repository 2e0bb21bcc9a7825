#include "chainconv/synth_inputs.h"

#include <filesystem>

#include "chainconv/report_format.h"
#include "core/config.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace chainconv::cli {

void add_layout_input_options(CLI::App* cmd, LayoutInputs& inputs) {
  cmd->add_option("--config", inputs.config,
                  "config.json to build from (default: the model type's tiny config)");
  cmd->add_option("--layout-file", inputs.layout_file,
                  "Layout file to build from (default: the layout serving the model type)");
  add_chains_dir_option(cmd, inputs.chains_dirs);
}

LoadedLayout load_layout_inputs(const std::string& model_type, const LayoutInputs& inputs,
                                ExpertLayout experts) {
  LoadedLayout out;
  out.model_type = model_type;
  const std::vector<std::string> dirs = chains_search_path(inputs.chains_dirs);
  if (!inputs.config.empty()) {
    out.config = read_config_file(inputs.config, "config");
    if (out.model_type.empty()) out.model_type = model_type_of(out.config, inputs.config);
    if (!out.config.contains("model_type")) out.config["model_type"] = out.model_type;
    if (out.config["model_type"] != out.model_type)
      throw Error(inputs.config + ": model_type is " + out.config["model_type"].dump() +
                  ", not \"" + out.model_type + "\"");
    out.config_source = inputs.config;
  } else if (out.model_type.empty()) {
    throw Error("no model type: give one, or --config FILE");
  }
  // The layout before the config: that no layout serves the model type is what to hear first.
  out.layout_file =
      inputs.layout_file.empty() ? find_layout_file(out.model_type, dirs) : inputs.layout_file;
  if (inputs.config.empty()) {
    fs::path beside;
    if (!inputs.layout_file.empty())
      beside = fs::path(inputs.layout_file).parent_path() / (out.model_type + ".config.json");
    std::error_code ec;
    if (!beside.empty() && fs::exists(beside, ec)) {
      out.config = read_config_file(beside.string());
      out.config_source = beside.string();
    } else {
      out.config = tiny_config(out.model_type, dirs);
      out.config_source = "the tiny config of " + out.model_type;
    }
  }
  out.layout = make_layout_from_file(out.layout_file, out.config, experts);
  return out;
}

}  // namespace chainconv::cli
