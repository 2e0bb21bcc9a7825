// Small formatting helpers the checkpoint subcommands share: sizes, shapes, op positions,
// and the parsing of --to.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/text.h"
#include "io/convert.h"
#include "ops/op.h"
#include "registry/chain_registry.h"

namespace chainconv::cli {

// "1.5 GB", "12.0 MB", "512 B" (decimal units, like the shard sizes).
std::string human_bytes(uint64_t bytes);
// "stack at chains/common/moe.yaml:31:9"
std::string op_text(const Op& op);
// "1m05s", "12s"
std::string duration_text(double seconds);

// Registers --to hf|prime|TARGET (required) and --target NAME on `cmd`: `--to` names the
// layout to write, HF or a chain target ("prime", "torchtitan"); `--target` says which
// target's chain `--to hf` converts back from (default prime).
struct DirectionArgs {
  std::string to;
  std::string target;
};
void add_direction_option(CLI::App* cmd, DirectionArgs& args);
// The direction the arguments ask for, and the chain target into `target`; throws Error when
// --to names one target and --target another.
Direction resolve_direction(const DirectionArgs& args, std::string& target);
// Registers --chains-dir DIR (repeatable): directories searched, in order, before the default.
// --set NAME=VALUE (repeatable) and --hf-experts per_expert|fused: the chain's parameters.
void add_param_options(CLI::App* cmd, std::vector<std::string>& sets, std::string& hf_experts);
void add_chains_dir_option(CLI::App* cmd, std::vector<std::string>& dirs);

// "1 unchanged, 5 moved, 0 split, ..., 0 transformed, 0 dropped": every category of Made, in
// order, then the dropped inputs.
std::string made_counts(const PlanSummary& summary);

// What to tell the user when a lookup in the chains directories failed: the options that
// would have made it succeed.
std::string lookup_advice(const NotFoundError& error);
// The same for a failure the user resolves with one of chainconv's options.
std::string choice_advice(const ChoiceError& error);

}  // namespace chainconv::cli
