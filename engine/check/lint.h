// Everything chainlint checks about one chain file, in one call: compile the chain
// (collecting every problem, each under its check), then run passes over the compiled chain
// and, with a layout, over its step programs (and with a target layout, against it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "check/finding.h"
#include "core/tensor_desc.h"

namespace chainconv {

struct Layout;

struct LintOptions {
  // An HF layout (keys, shapes, dtypes) to run the symbolic roundtrip and coverage checks
  // on; the static checks alone without one.
  const std::vector<TensorSpec>* layout = nullptr;
  // The model_type the layout is for; a chain that does not serve it is a finding.
  std::string model_type;
  // The other side (check/target_check.h): what forward must make of `layout` for a chain
  // target ("prime", "torchtitan"), or nullptr where no layout describes it; and the HF
  // layout with fused or per-expert experts (nullptr: the model has no such layout), for
  // what backward writes as the chain's hf_experts says (`layout` itself without this).
  // Called only for a chain that has a target layout, so loading may wait until then.
  std::function<const Layout*(const std::string& target)> target_layout;
  std::function<const std::vector<TensorSpec>*(bool fused)> hf_layout;
  Options run;
};

// Checks the chain file at `path`: the schema (the file and every file it includes, each
// under its own name), what the compiler finds (references, placeholders, templates,
// lossy steps), flow (conflicting writes, dead ops, predicate precedence), and with a
// layout the symbolic roundtrip and coverage. A file with neither `ops` nor `model_types`
// is checked as an included file (schema and includes). Throws Error only when `path`
// cannot be read.
std::vector<Finding> lint_file(const std::string& path, const LintOptions& options = {});
// The same for chain text; `name` appears in positions, includes resolve against `include_dir`.
std::vector<Finding> lint_text(const std::string& text, const std::string& name,
                               const std::string& include_dir, const LintOptions& options = {});

}  // namespace chainconv
