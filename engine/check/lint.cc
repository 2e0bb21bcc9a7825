#include "check/lint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "check/schema.h"
#include "check/static_checks.h"
#include "check/symbolic.h"
#include "core/read_file.h"
#include "dsl/chain.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

bool read_text(const std::string& path, std::string& text) {
  text = read_regular_file(path, kMaxTextFileSize, "chain file");  // throws naming the file
  return true;
}

// Parses YAML, reporting a syntax error as a finding.
bool parse(const std::string& text, const std::string& name, YAML::Node& out,
           std::vector<Finding>& findings) {
  try {
    out = YAML::Load(text);
    return true;
  } catch (const YAML::Exception& e) {
    findings.push_back(Finding{SourcePos{name, e.mark.line + 1, e.mark.column + 1}, Severity::error,
                               "YAML syntax error: " + e.msg, "syntax"});
    return false;
  }
}

// The files `root` includes, validated as included files, in the order the loader defines
// their pieces (nested includes first).
void collect_includes(const YAML::Node& root, const std::string& name, const std::string& dir,
                      std::set<std::string>& seen, std::vector<SourceFile>& files,
                      std::vector<Finding>& findings) {
  if (!root.IsMap() || !root["include"] || !root["include"].IsSequence()) return;
  for (const YAML::Node& item : root["include"]) {
    if (!item.IsScalar()) continue;  // the schema reports it
    fs::path path = fs::path(dir) / item.Scalar();
    SourcePos at{name, item.Mark().line + 1, item.Mark().column + 1};
    if (!fs::is_regular_file(path)) {
      findings.push_back(Finding{at, Severity::error,
                                 "cannot include '" + path.string() + "': no such file",
                                 "reference"});
      continue;
    }
    std::error_code ec;
    if (!seen.insert(fs::weakly_canonical(path, ec).string()).second) continue;
    std::string text;
    if (!read_text(path.string(), text)) {
      findings.push_back(Finding{at, Severity::error,
                                 "cannot read '" + path.string() + "': " + std::strerror(errno),
                                 "reference"});
      continue;
    }
    YAML::Node lib;
    if (!parse(text, path.string(), lib, findings)) continue;
    for (Finding& f : SchemaValidator::chain().validate(lib, path.string(), "/$defs/included_file"))
      findings.push_back(std::move(f));
    collect_includes(lib, path.string(), path.parent_path().string(), seen, files, findings);
    files.push_back({path.string(), lib});
  }
}

bool has_errors(const std::vector<Finding>& findings) {
  for (const Finding& f : findings)
    if (f.severity == Severity::error) return true;
  return false;
}

// The loader's message says which class of mistake it is.
std::string classify(const std::string& message) {
  for (const char* s : {"undefined piece", "piece parameter", "has no parameter", "needs parameter",
                        "cannot include", "uses itself", "already defined"})
    if (message.find(s) != std::string::npos) return "reference";
  for (const char* s : {"is not bound by", "drops placeholder", "to stack on", "stacking index"})
    if (message.find(s) != std::string::npos) return "placeholder";
  if (message.find("does not undo") != std::string::npos) return "lossy";
  return "compile";
}

}  // namespace

std::vector<Finding> lint_text(const std::string& text, const std::string& name,
                               const std::string& include_dir, const LintOptions& options) {
  std::vector<Finding> findings;
  YAML::Node root;
  if (!parse(text, name, root, findings)) return findings;
  const bool is_chain = !root.IsMap() || root["ops"] || root["model_types"];
  for (Finding& f : SchemaValidator::chain().validate(
           root, name, is_chain ? "/$defs/chain_file" : "/$defs/included_file"))
    findings.push_back(std::move(f));
  std::set<std::string> seen;
  std::error_code ec;
  seen.insert(fs::weakly_canonical(name, ec).string());
  std::vector<SourceFile> files;
  collect_includes(root, name, include_dir, seen, files, findings);
  files.push_back({name, root});
  if (is_chain) {
    // One problem, one finding: where the schema already objected, the walker's view of the
    // same value adds nothing.
    std::vector<Finding> structural = findings;
    for (Finding& f : check_references(files)) {
      bool known = std::any_of(structural.begin(), structural.end(), [&](const Finding& s) {
        return s.pos.file == f.pos.file && s.pos.line == f.pos.line && s.pos.col == f.pos.col;
      });
      if (!known) add_finding(findings, std::move(f));
    }
  }

  if (is_chain && !has_errors(findings)) {
    std::unique_ptr<Chain> chain;
    try {
      chain = load_chain_string(text, name, include_dir);
    } catch (const Error& e) {
      // Everything the loader rejects should have been found above; say it either way.
      findings.push_back(Finding{e.pos(), Severity::error, e.message(), classify(e.message())});
    }
    if (chain) {
      for (Finding& f : check_flow(*chain)) add_finding(findings, std::move(f));
      if (options.layout) {
        const auto& types = chain->model_types;
        if (!options.model_type.empty() &&
            std::find(types.begin(), types.end(), options.model_type) == types.end()) {
          findings.push_back(Finding{SourcePos{name, 0, 0}, Severity::error,
                                     "the layout is for model_type '" + options.model_type +
                                         "', which this chain does not serve",
                                     "layout"});
        } else {
          for (Finding& f : symbolic_roundtrip(*chain, *options.layout, options.run))
            add_finding(findings, std::move(f));
          for (Finding& f : check_coverage(*chain, *options.layout, options.run))
            add_finding(findings, std::move(f));
        }
      }
    }
  }
  sort_findings(findings);
  return findings;
}

std::vector<Finding> lint_file(const std::string& path, const LintOptions& options) {
  std::string text;
  if (fs::is_directory(path))
    throw Error(SourcePos{path, 0, 0}, "cannot read chain file: it is a directory");
  if (!read_text(path, text))
    throw Error(SourcePos{path, 0, 0},
                "cannot read chain file: " + std::string(std::strerror(errno)));
  return lint_text(text, path, fs::path(path).parent_path().string(), options);
}

}  // namespace chainconv
