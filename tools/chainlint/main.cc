// chainlint FILE... [--config config.json | --layout-from CHECKPOINT_DIR] [--format text|json]
//
// Exit status: 0 when nothing was found (notes do not count), 1 when there are errors or
// warnings, 2 when an input is unusable (a chain file that cannot be read, a bad config or
// checkpoint).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <optional>

#include "check/lint.h"
#include "core/config.h"
#include "core/expert_offset.h"
#include "io/checkpoint.h"
#include "layout/layout.h"

using namespace chainconv;

namespace {

struct LoadedLayout {
  std::vector<TensorSpec> tensors;
  std::string model_type;
};

LoadedLayout layout_from_config(const std::string& path, bool fused) {
  nlohmann::json config = read_config_file(path, "config");
  try {
    Layout layout = make_layout(config, fused ? ExpertLayout::fused : ExpertLayout::per_expert);
    return {std::move(layout.tensors), layout.model_type};
  } catch (const Error& e) {
    if (!e.pos().file.empty()) throw;  // a layout file's own error names that file
    throw Error(Position{path, 0, 0}, e.message());
  }
}

LoadedLayout layout_from_checkpoint(const std::string& dir) {
  LoadedLayout layout{read_checkpoint_layout(dir), {}};
  try {
    layout.model_type = read_model_type(dir);
  } catch (const Error&) {
    // Headers without a config.json: the layout is usable, its model type unknown.
  }
  return layout;
}

nlohmann::json to_json(const Finding& f) {
  return {{"file", f.pos.file}, {"line", f.pos.line},
          {"col", f.pos.col},   {"severity", severity_name(f.severity)},
          {"check", f.check},   {"message", f.message}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chainlint: check chain files against the schema, statically, and on a layout"};
  std::vector<std::string> files;
  std::string config, checkpoint, format = "text";
  bool fused = false, strict = false;
  int64_t expert_offset = 0;
  app.add_option("files", files, "chain files to check")->required();
  auto* config_opt =
      app.add_option("--config", config, "config.json: run the symbolic checks on its layout");
  app.add_option("--layout-from", checkpoint,
                 "checkpoint directory: run the symbolic checks on its tensors (headers only)")
      ->excludes(config_opt);
  app.add_flag("--fused-experts", fused,
               "with --config: the HF layout with fused experts (transformers v5)");
  app.add_option("--expert-offset", expert_offset,
                 "the first local expert, as on an expert-parallel shard");
  app.add_flag("--strict", strict,
               "with a layout: warnings the chain raises while running are errors");
  app.add_option("--format", format, "text (gcc-style lines) or json")
      ->check(CLI::IsMember({"text", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0
                            : 2;  // --help is not an error; a bad command line is unusable input
  }

  int status = 0;
  std::optional<LoadedLayout> layout;
  try {
    check_expert_offset(expert_offset);
    if (!config.empty()) layout = layout_from_config(config, fused);
    if (!checkpoint.empty()) layout = layout_from_checkpoint(checkpoint);
  } catch (const Error& e) {
    std::cerr << "chainlint: error: " << e.what() << "\n";
    return 2;
  }
  LintOptions options;
  if (layout) {
    options.layout = &layout->tensors;
    options.model_type = layout->model_type;
  }
  options.run.expert_offset = expert_offset;
  options.run.strict = strict;

  nlohmann::json report = {{"findings", nlohmann::json::array()},
                           {"unreadable", nlohmann::json::array()}};
  size_t counts[3] = {0, 0, 0};
  for (const std::string& file : files) {
    std::vector<Finding> findings;
    try {
      findings = lint_file(file, options);
    } catch (const Error& e) {
      if (format == "text") std::cerr << "chainlint: error: " << e.what() << "\n";
      report["unreadable"].push_back({{"file", file}, {"message", e.message()}});
      status = 2;
      continue;
    } catch (const std::exception& e) {
      std::cerr << "chainlint: internal error on " << file << ": " << e.what() << "\n";
      return 2;
    }
    for (const Finding& f : findings) {
      ++counts[static_cast<int>(f.severity)];
      if (format == "text") std::cout << f.str() << "\n";
      report["findings"].push_back(to_json(f));
    }
  }
  if (status == 0 && counts[0] + counts[1] > 0) status = 1;
  report["errors"] = counts[0];
  report["warnings"] = counts[1];
  report["notes"] = counts[2];
  report["status"] = status;
  if (format == "json") std::cout << report.dump(2) << "\n";
  return status;
}
