// chainlint on layout files (chains/layouts/*.yaml and the blocks they include): the schema
// (schema/layout.schema.json, at each file's own line and column), the includes, and the
// layout evaluated on the configs shipped beside it.
#pragma once

#include <string>
#include <vector>

#include "check/finding.h"

namespace chainconv {

// Whether `path` is checked as a layout rather than a chain: it lies under a directory named
// `layouts` (chains/layouts/x.yaml, chains/layouts/common/x.yaml), or its top level has
// `tensors` or `blocks` and neither `ops` nor `pieces` (which only chain files have). Throws
// Error naming the file when it cannot be read.
bool is_layout_file(const std::string& path);

// Checks the layout file at `path`: YAML syntax ("syntax"), the layout schema ("schema") for
// the file and every file it includes, includes that do not exist ("reference"), and for a
// layout with `model_types`, the layout evaluated on each `<model_type>.config.json` and
// `<model_type>.full.config.json` beside it (per-expert, and fused where it has that
// layout): a failure there is an error at the layout line it comes from ("layout"); a model
// type with no config beside it is a note. Throws Error only when `path` cannot be read.
std::vector<Finding> lint_layout_file(const std::string& path);

}  // namespace chainconv
