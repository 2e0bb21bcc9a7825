// chainconv synth MODEL_TYPE DST: a small synthetic HF checkpoint (config.json and
// safetensors) built from the model's layout, with values that depend only on the seed.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "chainconv/size_arg.h"
#include "chainconv/synth_inputs.h"
#include "core/error.h"
#include "io/fs_util.h"
#include "io/writer.h"
#include "layout/layout.h"

namespace fs = std::filesystem;

namespace chainconv::cli {
namespace {

struct SynthArgs {
  std::string model_type, dst, max_shard_size = "5GB";
  LayoutInputs inputs;
  std::string experts = "per_expert", deprecated_layout;
  uint64_t seed = 0;
  bool force = false;
};

int synth(SynthArgs& args) {
  if (!args.deprecated_layout.empty()) {
    std::cerr << "chainconv: synth --layout is deprecated; use --experts " << args.deprecated_layout
              << "\n";
    args.experts = args.deprecated_layout;
  }
  const ExpertLayout experts =
      args.experts == "fused" ? ExpertLayout::fused : ExpertLayout::per_expert;
  const LoadedLayout loaded = load_layout_inputs(args.model_type, args.inputs, experts);
  const Layout& layout = loaded.layout;
  // Like mkdir -p for the parents: DST itself still appears whole or not at all.
  if (fs::path parent = fs::path(args.dst).lexically_normal().parent_path(); !parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
      throw Error(parent.string() + ": cannot create the parent directory of DST: " + ec.message());
  }
  check_destination("", args.dst, args.force);
  TempDir tmp = TempDir::beside(args.dst);
  {
    std::ofstream out(tmp.path() + "/config.json");
    out << loaded.config.dump(2) << "\n";
    if (!out.flush()) throw Error(tmp.path() + "/config.json: cannot write");
  }
  std::vector<OutputTensor> tensors;
  uint64_t bytes = 0;
  for (const TensorSpec& spec : layout.tensors) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    tensors.push_back({spec.key, std::string(spec.dtype->name), spec.shape,
                       static_cast<uint64_t>(n) * spec.dtype->itemsize});
    bytes += tensors.back().nbytes;
  }
  SafetensorsWriter writer(tmp.path(), std::move(tensors), parse_size(args.max_shard_size));
  for (const TensorSpec& spec : layout.tensors) {
    const std::vector<uint8_t> values = synthetic_bytes(spec, args.seed);
    writer.write(spec.key, values.data(), values.size());
  }
  writer.finish();
  tmp.commit(args.dst, args.force);
  std::cout << "wrote " << args.dst << ": synthetic " << args.model_type << " (" << args.experts
            << " experts, seed " << args.seed << ", layout " << loaded.layout_file << "), "
            << layout.tensors.size() << " tensors, " << human_bytes(bytes) << "\n";
  return 0;
}

}  // namespace

Command add_synth(CLI::App& app) {
  auto* cmd = app.add_subcommand("synth", "Write a small synthetic HF checkpoint for a model type");
  auto args = std::make_shared<SynthArgs>();
  cmd->add_option("MODEL_TYPE", args->model_type, "config.json model_type, e.g. qwen3_moe")
      ->required();
  cmd->add_option("DST", args->dst, "Directory to create (missing parents are created)")
      ->required();
  add_layout_input_options(cmd, args->inputs);
  auto* experts =
      cmd->add_option("--experts", args->experts,
                      "Routed experts per expert or fused (transformers v5's gate_up_proj)")
          ->check(CLI::IsMember({"per_expert", "fused"}));
  cmd->add_option("--layout", args->deprecated_layout, "Deprecated spelling of --experts")
      ->check(CLI::IsMember({"per_expert", "fused"}))
      ->excludes(experts);
  cmd->add_option("--seed", args->seed, "Seed of the values");
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "Largest shard, e.g. 5GB, 500MB, or bytes");
  cmd->add_flag("--force", args->force, "Replace DST if it exists");
  return [args]() { return synth(*args); };
}

}  // namespace chainconv::cli
