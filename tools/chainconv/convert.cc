// chainconv convert SRC DST --to prime|hf: convert a checkpoint directory, streaming one
// layer group at a time, into DST atomically (a temporary directory renamed at the end).
// Signals unwind it in any phase: DST is then either complete or absent, never partial.
#include <cstdlib>
#include <iostream>

#include "chainconv/commands.h"
#include "chainconv/progress.h"
#include "chainconv/report_format.h"
#include "chainconv/signals.h"
#include "chainconv/size_arg.h"
#include "core/error.h"
#include "core/expert_offset.h"
#include "core/params.h"
#include "io/convert.h"
#include "io/temp_dir.h"

namespace chainconv::cli {
namespace {

struct ConvertArgs {
  std::string src, dst, chain, max_shard_size = "5GB";
  std::vector<std::string> chains_dirs, sets;
  std::string hf_experts;
  Direction direction = Direction::to_prime;
  DirectionArgs to;
  int64_t expert_offset = 0;
  bool force = false, verify = false, quiet = false, no_sync = false;
};

void print_result(const ConvertArgs& args, const ConvertResult& result) {
  const PlanSummary& s = result.summary;
  std::cout << "converted " << args.src << " -> " << args.dst << " ("
            << direction_name(args.direction) << "): " << s.outputs() << " tensors in "
            << result.shards << " shard" << (result.shards == 1 ? "" : "s") << ", "
            << human_bytes(s.bytes_out) << " (" << made_counts(s) << ")\n";
  if (!result.copied_files.empty()) {
    std::cout << "copied";
    for (const std::string& f : result.copied_files) std::cout << " " << f;
    std::cout << "\n";
  }
  for (const std::string& s : result.skipped) std::cout << "skipped " << s << "\n";
}

// The verdict of --verify, which --quiet does not hide: it is what the flag was asked for.
void print_verify(const VerifyReport& verify, bool quiet) {
  std::cout << "verify: converted back and compared " << verify.tensors_checked
            << " source tensors: identical except " << verify.lossy.size() << " declared lossy\n";
  if (quiet) return;
  // A dequantized checkpoint has hundreds of lossy tensors: the first few say why.
  constexpr size_t kShown = 10;
  for (size_t i = 0; i < verify.lossy.size() && i < kShown; ++i)
    std::cout << "  lossy: " << verify.lossy[i] << "\n";
  if (verify.lossy.size() > kShown)
    std::cout << "  lossy: ... and " << verify.lossy.size() - kShown << " more\n";
}

}  // namespace

Command add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert",
                                 "Convert a checkpoint directory between the HF and prime layouts");
  auto args = std::make_shared<ConvertArgs>();
  cmd->add_option("SRC", args->src, "Checkpoint directory to read (config.json + safetensors)")
      ->required();
  cmd->add_option("DST", args->dst, "Directory to create")->required();
  add_direction_option(cmd, args->to);
  cmd->add_option("--chain", args->chain,
                  "Chain file (default: the registered chain for config.json's model_type)");
  cmd->add_option("--expert-offset", args->expert_offset,
                  "Global index of the first local expert (expert-parallel shard)");
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "Largest output shard, e.g. 5GB, 500MB, or bytes");
  cmd->add_flag("--force", args->force, "Replace DST if it exists");
  cmd->add_flag("--verify", args->verify,
                "Convert the result back and compare it with SRC byte for byte");
  cmd->add_flag("--quiet", args->quiet,
                "No progress and no summary (the --verify verdict is still printed)");
  add_chains_dir_option(cmd, args->chains_dirs);
  add_param_options(cmd, args->sets, args->hf_experts);
  cmd->add_flag("--no-sync", args->no_sync,
                "Leave writing to disk to the kernel, as cp does: faster, and DST still appears "
                "whole or not at all, but a crash soon after may lose data already visible");
  return [args]() {
    // First: from here on a signal unwinds whatever phase it arrives in.
    SignalGuard signals;
    check_expert_offset(args->expert_offset);
    ConvertOptions options;
    args->direction = resolve_direction(args->to, options.target);
    options.direction = args->direction;
    options.chain_file = args->chain;
    options.chains_dirs = args->chains_dirs;
    options.run.expert_offset = args->expert_offset;
    options.run.params = param_assignments(args->sets, args->hf_experts);
    options.max_shard_size = parse_size(args->max_shard_size);
    options.force = args->force;
    options.verify = args->verify;
    options.sync_to_disk = !args->no_sync;
    ProgressDisplay progress(std::cerr, ProgressDisplay::mode_for_stderr(args->quiet));
    options.progress = [&](const ConvertProgress& p) { progress.update(p); };
    options.cancelled = [] { return SignalGuard::received() != 0; };
    // What a killed earlier run left beside DST.
    for (const std::string& note : remove_stale_temp_dirs(args->dst))
      std::cerr << "chainconv: " << note << "\n";
    ConvertResult result;
    try {
      result = convert_checkpoint(args->src, args->dst, options);
    } catch (const std::exception& e) {
      progress.finish();
      const int signal = SignalGuard::received();
      if (!signal) throw;
      std::cerr << "chainconv: interrupted by " << signal_name(signal) << "; " << args->dst
                << " was not written" << std::endl;
      // Nothing is left to clean up: skip LibTorch's teardown at exit (a third of a second)
      // so that the signal takes effect at once.
      std::cout.flush();
      std::_Exit(128 + signal);
    }
    progress.finish();
    if (const int signal = SignalGuard::received())
      std::cerr << "chainconv: " << signal_name(signal) << " arrived after " << args->dst
                << " was complete; the conversion finished\n";
    for (const Warning& w : result.warnings) std::cerr << w.str() << "\n";
    if (!args->quiet) print_result(*args, result);
    if (result.verify) print_verify(*result.verify, args->quiet);
    return 0;
  };
}

}  // namespace chainconv::cli
