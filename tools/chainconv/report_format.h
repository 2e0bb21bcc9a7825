// Small formatting helpers the checkpoint subcommands share: sizes, shapes, op positions,
// and the parsing of --to.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/text.h"
#include "ops/op.h"

namespace chainconv::cli {

// "1.5 GB", "12.0 MB", "512 B" (decimal units, like the shard sizes).
std::string human_bytes(uint64_t bytes);
// "stack at chains/common/moe.yaml:31:9"
std::string op_text(const Op& op);
// "1m05s", "12s"
std::string duration_text(double seconds);

// Registers --to prime|hf on `cmd` (required).
void add_direction_option(CLI::App* cmd, Direction& direction);

}  // namespace chainconv::cli
