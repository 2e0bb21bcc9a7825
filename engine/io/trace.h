// Runs a chain on one group of tensors and records, for every output, where it came from:
// the input keys, the ops (with their chain positions), and where its bytes lie in the input
// files. Run on meta tensors (the plan), outputs that are views, stacks or concatenations of
// inputs resolve to byte runs without touching any data; only outputs that pass through a
// value transform need the real values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/key_template.h"
#include "io/byte_runs.h"
#include "ops/op.h"

namespace chainconv {

struct Chain;

struct TracedOutput {
  std::string key;
  Item item;                         // its tensor after the chain (meta when traced on meta)
  std::vector<std::string> sources;  // the input keys it was made from (none: synthesised)
  std::vector<const Op*> ops;        // the ops that produced it, in the order they ran
  bool computed = false;             // a value transform may have changed its values
  std::optional<ByteRuns> runs;      // its bytes, as runs of input bytes, when they are
};

struct GroupTrace {
  std::vector<TracedOutput> outputs;         // natural key order
  std::map<std::string, const Op*> dropped;  // input key -> the op that dropped it
  std::vector<Warning> warnings;
  // True when some output's bytes cannot be copied from the inputs (a value transform, or a
  // combination of inputs the trace could not follow): the group must run on real values.
  bool needs_values() const;
};

// The key templates of every value transform (`map`) in the chain, in `direction`.
std::vector<const KeyTemplate*> value_map_templates(const Chain& chain, Direction direction);

// Converts `dict` (one group's inputs, keyed by name) in place and traces it. `locations`
// gives each input's bytes (source file index, offset, length). Inputs may be meta tensors or
// real ones (views of the mapped files).
GroupTrace trace_group(const Chain& chain, Direction direction, const RunOptions& options,
                       const std::vector<const KeyTemplate*>& value_templates, StateDict& dict,
                       const std::map<std::string, ByteRun>& locations);

// The layer group a key belongs to: its prefix up to and including the numeric segment
// after a `layers` segment ("model.layers.3.", "backbone.layers.3.", "mtp.layers.0."), or ""
// for keys outside any layer (embeddings, final norm, lm_head, vision tower, ...).
std::string layer_group_of(const std::string& key);

}  // namespace chainconv
