#include "check/layout_lint.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "check/schema.h"
#include "core/config.h"
#include "core/read_file.h"
#include "layout/layout.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

Position pos_of(const std::string& file, const YAML::Node& node) {
  return Position{file, node.Mark().line + 1, node.Mark().column + 1};
}

bool has_key(const YAML::Node& root, const char* key) { return root.IsMap() && root[key]; }

bool under_layouts_dir(const std::string& path) {
  for (const auto& part : fs::path(path).parent_path())
    if (part == "layouts") return true;
  return false;
}

// Parses `path`; a syntax error is a finding and gives an undefined node.
YAML::Node parse(const std::string& path, const std::string& text, std::vector<Finding>& findings) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    findings.push_back(Finding{Position{path, e.mark.line + 1, e.mark.column + 1}, Severity::error,
                               "YAML syntax error: " + e.msg, "syntax"});
    return YAML::Node(YAML::NodeType::Undefined);
  }
}

class LayoutLinter {
 public:
  std::vector<Finding> run(const std::string& path) {
    const std::string text = read_regular_file(path, kMaxTextFileSize, "layout file");
    seen_.insert(fs::weakly_canonical(path).string());
    const YAML::Node root = parse(path, text, findings_);
    if (!root.IsDefined()) return std::move(findings_);
    const bool top_level = has_key(root, "model_types") || has_key(root, "tensors");
    const size_t before = findings_.size();
    check_file(path, root, top_level ? "/$defs/layout_file" : "/$defs/included_file");
    if (top_level && findings_.size() == before) evaluate(path, root);
    sort_findings(findings_);
    return std::move(findings_);
  }

 private:
  void check_file(const std::string& path, const YAML::Node& root, const std::string& pointer) {
    for (Finding& f : SchemaValidator::layout().validate(root, path, pointer))
      add_finding(findings_, std::move(f));
    const YAML::Node includes = root.IsMap() ? root["include"] : YAML::Node();
    if (!includes || !includes.IsSequence()) return;
    for (const YAML::Node& item : includes) {
      if (!item.IsScalar()) continue;  // the schema said so
      const fs::path file = fs::path(path).parent_path() / item.Scalar();
      std::error_code ec;
      if (!fs::is_regular_file(file, ec)) {
        add_finding(findings_,
                    Finding{pos_of(path, item), Severity::error,
                            "cannot include '" + file.string() + "': no such file", "reference"});
        continue;
      }
      if (!seen_.insert(fs::weakly_canonical(file, ec).string()).second) continue;
      const std::string text = read_regular_file(file.string(), kMaxTextFileSize, "layout file");
      const YAML::Node included = parse(file.string(), text, findings_);
      if (included.IsDefined()) check_file(file.string(), included, "/$defs/included_file");
    }
  }

  // The layout on the configs shipped beside it: a layout that fails on its own tiny or
  // full-size config is broken whatever its schema says.
  void evaluate(const std::string& path, const YAML::Node& root) {
    const bool fused = root["fused_experts"] && root["fused_experts"].as<std::string>() == "true";
    for (const YAML::Node& type : root["model_types"]) {
      const std::string model_type = type.Scalar();
      bool any = false;
      for (const char* suffix : {".config.json", ".full.config.json"}) {
        const fs::path config_path = fs::path(path).parent_path() / (model_type + suffix);
        std::error_code ec;
        if (!fs::exists(config_path, ec)) continue;
        any = true;
        for (ExpertLayout experts : {ExpertLayout::per_expert, ExpertLayout::fused}) {
          if (experts == ExpertLayout::fused && !fused) continue;
          const std::string on =
              config_path.string() + (experts == ExpertLayout::fused ? " (fused experts)" : "");
          try {
            nlohmann::json config = read_config_file(config_path.string());
            if (!config.contains("model_type")) config["model_type"] = model_type;
            make_layout_from_file(path, config, experts);
          } catch (const Error& e) {
            Position at = e.pos().known() ? e.pos() : pos_of(path, type);
            add_finding(findings_,
                        Finding{at, Severity::error, "on " + on + ": " + e.message(), "layout"});
          }
        }
      }
      if (!any)
        add_finding(findings_,
                    Finding{pos_of(path, type), Severity::note,
                            "no " + model_type + ".config.json beside the layout: not evaluated",
                            "layout"});
    }
  }

  std::vector<Finding> findings_;
  std::set<std::string> seen_;
};

}  // namespace

bool is_layout_file(const std::string& path) {
  if (under_layouts_dir(path)) return true;
  const std::string text = read_regular_file(path, kMaxTextFileSize, "chain file");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception&) {
    return false;  // the chain checks report the syntax error
  }
  return (has_key(root, "tensors") || has_key(root, "blocks")) && !has_key(root, "ops") &&
         !has_key(root, "pieces");
}

std::vector<Finding> lint_layout_file(const std::string& path) { return LayoutLinter().run(path); }

}  // namespace chainconv
