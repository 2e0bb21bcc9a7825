// chainlint FILE... [--config config.json | --layout-from CHECKPOINT_DIR] [--format text|json]
//
// Each FILE is a chain (or a file of pieces it includes) or a layout (check/layout_lint.h
// says which). Exit status: 0 when nothing was found (notes do not count), 1 when there are
// errors or warnings, 2 when an input is unusable (a file that cannot be read, a bad config
// or checkpoint).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "check/layout_lint.h"
#include "check/lint.h"
#include "core/config.h"
#include "core/expert_offset.h"
#include "core/params.h"
#include "core/read_file.h"
#include "io/checkpoint.h"
#include "layout/layout.h"

using namespace chainconv;

namespace {

struct LoadedLayout {
  std::vector<TensorSpec> tensors;
  std::string model_type;
};

// `config` is the file at `path`, read once by the caller.
LoadedLayout layout_from_config(const nlohmann::json& config, const std::string& path, bool fused,
                                const std::vector<std::string>& chains_dirs) {
  try {
    Layout layout = make_layout(config, fused ? ExpertLayout::fused : ExpertLayout::per_expert,
                                chains_search_path(chains_dirs));
    return {std::move(layout.tensors), layout.model_type};
  } catch (const NotFoundError& e) {
    throw Error(Position{path, 0, 0},
                e.message() + "; add a directory whose layouts/ has one with --chains-dir DIR");
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
  std::vector<std::string> files, chains_dirs, sets;
  std::string config, checkpoint, format = "text", hf_experts;
  bool fused = false, strict = false, quiet = false;
  int64_t expert_offset = 0;
  app.add_option("files", files, "chain and layout files to check")->required();
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
  app.add_option("--chains-dir", chains_dirs,
                 "with --config: a directory whose layouts/ is searched before the default's; "
                 "repeatable, the first that serves the model type wins")
      ->allow_extra_args(false)  // one DIR per --chains-dir: never a file to check
      ->check(CLI::ExistingDirectory);
  app.add_flag("--quiet", quiet, "text: no summary line after the findings");
  app.add_option("--set", sets,
                 "NAME=VALUE: a chain parameter (its params:), checked against its declaration "
                 "and used on the layout; repeatable")
      ->allow_extra_args(false);
  app.add_option("--hf-experts", hf_experts,
                 "per_expert or fused: the HF expert layout backward writes (--set hf_experts=)")
      ->check(CLI::IsMember({"per_expert", "fused"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0
                            : 2;  // --help is not an error; a bad command line is unusable input
  }

  int status = 0;
  std::optional<LoadedLayout> layout;
  // Loaded when a chain's target check asks: the other HF expert layout, by `fused`, and the
  // target layouts, by chain target (nullopt: none describes that side).
  std::map<bool, std::optional<LoadedLayout>> other_experts;
  std::map<std::string, std::optional<Layout>> targets;
  nlohmann::json config_json;
  LintOptions options;
  try {
    check_expert_offset(expert_offset);
    options.run.params = param_assignments(sets, hf_experts);
    if (!config.empty()) {
      config_json = read_config_file(config, "config");
      layout = layout_from_config(config_json, config, fused, chains_dirs);
      options.run.config = config_json.dump();
    }
    if (!checkpoint.empty()) {
      layout = layout_from_checkpoint(checkpoint);
      const std::string checkpoint_config = checkpoint + "/config.json";
      if (std::filesystem::is_regular_file(checkpoint_config))
        options.run.config = read_regular_file(checkpoint_config, kMaxTextFileSize, "config");
    }
  } catch (const Error& e) {
    std::cerr << "chainlint: error: " << e.what() << "\n";
    return 2;
  }
  if (layout) {
    options.layout = &layout->tensors;
    options.model_type = layout->model_type;
  }
  // The other side of each chain's target, where a layout describes it (and not on a shard,
  // which is not the whole of it).
  if (!config.empty() && expert_offset == 0) {
    options.hf_layout = [&](bool want_fused) -> const std::vector<TensorSpec>* {
      if (want_fused == fused) return &layout->tensors;
      auto it = other_experts.find(want_fused);
      if (it == other_experts.end()) {
        std::optional<LoadedLayout> other;
        if (!want_fused || has_fused_layout(layout->model_type, chains_search_path(chains_dirs)))
          other = layout_from_config(config_json, config, want_fused, chains_dirs);
        it = other_experts.emplace(want_fused, std::move(other)).first;
      }
      return it->second ? &it->second->tensors : nullptr;
    };
    options.target_layout = [&](const std::string& name) -> const Layout* {
      auto it = targets.find(name);
      if (it == targets.end())
        it = targets
                 .emplace(name,
                          make_target_layout(config_json, name, chains_search_path(chains_dirs)))
                 .first;
      return it->second ? &*it->second : nullptr;
    };
  }
  options.run.expert_offset = expert_offset;
  options.run.strict = strict;

  nlohmann::json report = {{"findings", nlohmann::json::array()},
                           {"unreadable", nlohmann::json::array()}};
  size_t counts[3] = {0, 0, 0};
  for (const std::string& file : files) {
    std::vector<Finding> findings;
    try {
      findings = is_layout_file(file) ? lint_layout_file(file) : lint_file(file, options);
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
  report["files"] = files.size();
  report["status"] = status;
  // Invalid UTF-8 (a key or file name read from the user's files) must not abort the report.
  if (format == "json")
    std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else if (!quiet)
    std::cout << files.size() << (files.size() == 1 ? " file" : " files")
              << (report["unreadable"].empty()
                      ? std::string()
                      : " (" + std::to_string(report["unreadable"].size()) + " unreadable)")
              << ", " << counts[0] << (counts[0] == 1 ? " error, " : " errors, ") << counts[1]
              << (counts[1] == 1 ? " warning" : " warnings")
              << (counts[2]
                      ? ", " + std::to_string(counts[2]) + (counts[2] == 1 ? " note" : " notes")
                      : std::string())
              << "\n";
  return status;
}
