#include "check/lint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "check/schema.h"
#include "check/static_checks.h"
#include "check/symbolic.h"
#include "check/target_check.h"
#include "core/read_file.h"
#include "dsl/chain.h"
#include "layout/layout.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

bool read_text(const std::string& path, std::string& text) {
  text = read_regular_file(path, kMaxTextFileSize, "chain file");  // throws naming the file
  return true;
}

bool has_errors(const std::vector<Finding>& findings) {
  for (const Finding& f : findings)
    if (f.severity == Severity::error) return true;
  return false;
}

bool same_place(const Position& a, const Position& b) {
  return a.file == b.file && a.line == b.line && a.col == b.col;
}

// The HF layout backward writes: the expert layout the chain's hf_experts names (`params`
// holds the user's values over the declared defaults). Without the parameter a chain writes
// the canonical per-expert layout back (a fused input is canonicalised).
const std::vector<TensorSpec>& hf_written_back(const Chain& chain, const ParamEnv& params,
                                               const LintOptions& options) {
  const int index = chain.params.index_of("hf_experts");
  const ParamValue* experts = index < 0 ? nullptr : &params.param(index, Position{});
  const bool fused = experts && std::holds_alternative<std::string>(*experts) &&
                     std::get<std::string>(*experts) == "fused";
  const std::vector<TensorSpec>* layout = options.hf_layout ? options.hf_layout(fused) : nullptr;
  return layout ? *layout : *options.layout;
}

}  // namespace

std::vector<Finding> lint_text(const std::string& text, const std::string& name,
                               const std::string& include_dir, const LintOptions& options) {
  std::vector<Finding> findings;  // syntax errors and unreadable includes, so far
  const ChainSources sources = parse_chain_sources(text, name, include_dir, &findings);
  if (sources.files.empty()) return findings;

  std::set<std::string> structure_flagged;  // files the schema found something wrong in
  for (const SourceFile& file : sources.files) {
    const bool root = &file == &sources.root();
    const char* pointer = root && sources.is_chain ? "/$defs/chain_file" : "/$defs/included_file";
    for (Finding& f : SchemaValidator::chain().validate(file.root.yaml(), file.path, pointer)) {
      structure_flagged.insert(f.pos.file);
      findings.push_back(std::move(f));
    }
  }

  // One problem, one finding: the schema is the authority on structure, so where it has
  // objected the compiler's view of the same value adds nothing.
  std::vector<Finding> compiled;
  auto chain = compile_chain(sources, &compiled);
  const std::vector<Finding> reported = findings;
  for (Finding& f : compiled) {
    if (f.check == "schema" && structure_flagged.count(f.pos.file)) continue;
    if (std::any_of(reported.begin(), reported.end(),
                    [&](const Finding& r) { return same_place(r.pos, f.pos); }))
      continue;
    add_finding(findings, std::move(f));
  }

  if (sources.is_chain && !has_errors(findings)) {
    for (Finding& f : check_flow(*chain)) add_finding(findings, std::move(f));
    // Values given for the chain's parameters (--set) must be ones it declares, of its types.
    std::optional<ParamEnv> params;
    try {
      params.emplace(chain->params, options.run);
    } catch (const Error& e) {
      findings.push_back(Finding{e.pos().known() ? e.pos() : Position{name, 1, 1}, Severity::error,
                                 e.message(), "params"});
      sort_findings(findings);
      return findings;
    }
    if (options.layout) {
      const auto& types = chain->model_types;
      if (!options.model_type.empty() &&
          std::find(types.begin(), types.end(), options.model_type) == types.end()) {
        findings.push_back(Finding{Position{name, 0, 0}, Severity::error,
                                   "the layout is for model_type '" + options.model_type +
                                       "', which this chain does not serve",
                                   "layout"});
      } else {
        const Layout* target =
            options.target_layout ? options.target_layout(chain->target) : nullptr;
        std::optional<TargetSide> side;
        if (target)
          side = TargetSide{chain->target, &target->tensors, &target->made_by,
                            &hf_written_back(*chain, *params, options)};
        for (Finding& f :
             check_on_layout(*chain, *options.layout, options.run, side ? &*side : nullptr))
          add_finding(findings, std::move(f));
      }
    }
  }
  sort_findings(findings);
  return findings;
}

std::vector<Finding> lint_file(const std::string& path, const LintOptions& options) {
  std::string text;
  if (fs::is_directory(path))
    throw Error(Position{path, 0, 0}, "cannot read chain file: it is a directory");
  if (!read_text(path, text))
    throw Error(Position{path, 0, 0},
                "cannot read chain file: " + std::string(std::strerror(errno)));
  return lint_text(text, path, fs::path(path).parent_path().string(), options);
}

}  // namespace chainconv
