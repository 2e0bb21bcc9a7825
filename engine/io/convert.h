// Converting a checkpoint directory with a chain, streaming: the plan lowers the chain on
// the headers alone, one layer group at a time, and the file executor learns from each
// group's step program where every output's bytes lie in the inputs; the conversion then
// writes each group's outputs straight into their places in the output shards, copying
// input bytes file to file, and hands only the outputs of computed steps to the ATen
// executor (io/compute.h). Peak memory is about one layer group (usually far less), never
// the model.
#pragma once

#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/byte_runs.h"
#include "io/checkpoint.h"
#include "io/writer.h"
#include "ops/op.h"
#include "program/program.h"

namespace chainconv {

struct Chain;

struct ConvertProgress {
  std::string_view stage;  // "convert" or "verify"
  size_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
};

struct ConvertOptions {
  Direction direction = Direction::to_prime;
  std::string chain_file;        // empty: the registry's chain for config.json's model_type
  std::string target = "prime";  // and this target (registry/chain_registry.h)
  // Where the registry looks for the chain (and nothing else is read from there): these
  // directories in order, then the default (registry/chain_registry.h).
  std::vector<std::string> chains_dirs;
  Options run;
  uint64_t max_shard_size = kDefaultMaxShardSize;
  bool force = false;         // replace an existing destination
  bool verify = false;        // convert the result back and compare it with the source
  unsigned copy_threads = 0;  // threads copying bytes at once; 0: one per core, at most 4
  // Flush the result to disk (fsync) before it appears under DST. false leaves writeback to
  // the kernel, as cp does: faster, but a crash soon after may lose data that the rename has
  // already made visible.
  bool sync_to_disk = true;
  std::function<void(const ConvertProgress&)> progress;
  std::string progress_stage = "convert";  // what progress reports call the writing
  // Polled while planning, laying out shards, between copies, while flushing and last
  // before the final rename; true stops with an Error and nothing is left behind.
  std::function<bool()> cancelled;
};

// What a conversion's step program did to an output, from the step kinds on its way (the
// first that applies): synthesised (a create step), transformed (a compute step: new
// values), reshaped (reshape or permute steps: the same values in another shape or order),
// restacked (views, such as a split or an unstack, and a stack or concatenation),
// stacked, concatenated, unstacked (select views: one expert of a stacked tensor), split
// (narrow views: part of a fused tensor), moved (renames, dropping a leading singleton dim),
// unchanged (no step: the input key as it was).
enum class Made : uint8_t {
  unchanged,
  moved,
  split,
  unstacked,
  stacked,
  restacked,
  concatenated,
  synthesised,
  transformed,
  reshaped,
};
inline constexpr Made kAllMade[] = {
    Made::unchanged, Made::moved,        Made::split,       Made::unstacked,   Made::stacked,
    Made::restacked, Made::concatenated, Made::synthesised, Made::transformed, Made::reshaped};
std::string_view made_name(Made made);

struct PlannedOutput {
  std::string key;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
  std::vector<std::string> sources;
  std::vector<const Op*> ops;
  Made how = Made::unchanged;
  bool computed = false;         // written from values the chain computes
  std::optional<ByteRuns> runs;  // otherwise copied from these runs (or zero-filled)
  size_t group = 0;
  size_t index = 0;  // among its group program's outputs
};

struct PlannedGroup {
  std::string prefix;               // "" for the keys outside any layer
  std::vector<std::string> inputs;  // in key order: the program's input slots
  std::vector<size_t> outputs;      // indices into ConversionPlan::outputs
  bool needs_values = false;
  std::shared_ptr<const Program> program;  // the group's conversion
};

struct PlanSummary {
  size_t made[std::size(kAllMade)] = {};  // outputs by how they were made, indexed by Made
  size_t dropped = 0;                     // inputs no output is made from
  size_t computed = 0;                    // outputs written from computed values
  uint64_t bytes_in = 0, bytes_out = 0, bytes_copied = 0, bytes_computed = 0;

  size_t of(Made how) const { return made[static_cast<size_t>(how)]; }
  size_t outputs() const;
};

struct ConversionPlan {
  std::shared_ptr<const Chain> chain;
  std::string chain_file;
  Direction direction = Direction::to_prime;
  Options run;
  Checkpoint source;
  std::vector<PlannedGroup> groups;
  std::vector<PlannedOutput> outputs;        // natural key order
  std::map<std::string, const Op*> dropped;  // input key -> the op that dropped it
  std::vector<Warning> warnings;

  PlanSummary summary() const;
};

// The layer group a key belongs to: its prefix up to and including the numeric segment
// after a `layers` segment ("model.layers.3.", "backbone.layers.3.", "mtp.layers.0."), or ""
// for keys outside any layer (embeddings, final norm, lm_head, vision tower, ...).
std::string layer_group_of(const std::string& key);

// The chain for `src` under `options`: --chain, or config.json's model_type via the registry.
std::string resolve_chain_file(const std::string& src, const ConvertOptions& options);

// Reads `src`'s headers only and plans the conversion. Throws Error for a bad checkpoint,
// a missing config.json or unknown model type, or a chain that fails on this layout.
ConversionPlan plan_conversion(const std::string& src, const ConvertOptions& options);

// Writes the planned outputs as safetensors shards into the existing directory `dir`.
void write_conversion(const ConversionPlan& plan, const std::string& dir,
                      const ConvertOptions& options);

struct VerifyReport {
  size_t tensors_checked = 0;
  std::vector<std::string> lossy;  // differences the chain declares (dropped, lossy, canonicalised)
  std::vector<std::string> failures;  // differences it does not explain
  bool ok() const { return failures.empty(); }
};

// Converts `converted` back (the opposite direction, same chain) into a temporary directory
// and compares the result with the plan's source, byte for byte.
VerifyReport verify_conversion(const ConversionPlan& plan, const std::string& converted,
                               const ConvertOptions& options);

struct ConvertResult {
  PlanSummary summary;
  size_t shards = 0;
  std::vector<Warning> warnings;
  std::optional<VerifyReport> verify;
  std::vector<std::string> copied_files;
  std::vector<std::string> skipped;  // entries of SRC not copied, with why
};

// The whole job: checks DST, plans, writes into a temporary directory beside DST, copies
// the other files of SRC, verifies when asked, and renames the result to DST. On any
// failure (or cancellation) nothing is left behind and SRC is untouched.
ConvertResult convert_checkpoint(const std::string& src, const std::string& dst,
                                 const ConvertOptions& options);

}  // namespace chainconv
