// chainconv synth MODEL_TYPE DST: a small synthetic HF checkpoint (config.json and
// safetensors) built from the model's layout, with values that depend only on the seed.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "core/config.h"
#include "core/error.h"
#include "core/json_parse.h"
#include "core/read_file.h"
#include "io/fs_util.h"
#include "io/writer.h"
#include "layout/layout.h"

namespace chainconv::cli {
namespace {

struct SynthArgs {
  std::string model_type, dst, config, layout = "per_expert", max_shard_size = "5GB";
  uint64_t seed = 0;
  bool force = false;
};

nlohmann::json load_config(const SynthArgs& args) {
  if (args.config.empty()) return tiny_config(args.model_type);
  nlohmann::json config = read_config_file(args.config, "config");
  if (!config.contains("model_type")) config["model_type"] = args.model_type;
  if (config["model_type"] != args.model_type)
    throw Error(args.config + ": model_type is " + config["model_type"].dump() + ", not \"" +
                args.model_type + "\"");
  return config;
}

int synth(const SynthArgs& args) {
  const ExpertLayout experts =
      args.layout == "fused" ? ExpertLayout::fused : ExpertLayout::per_expert;
  const nlohmann::json config = load_config(args);
  const Layout layout = make_layout(config, experts);
  check_destination("", args.dst, args.force);
  TempDir tmp = TempDir::beside(args.dst);
  {
    std::ofstream out(tmp.path() + "/config.json");
    out << config.dump(2) << "\n";
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
  std::cout << "wrote " << args.dst << ": synthetic " << args.model_type << " (" << args.layout
            << " experts, seed " << args.seed << "), " << layout.tensors.size() << " tensors, "
            << human_bytes(bytes) << "\n";
  return 0;
}

}  // namespace

Command add_synth(CLI::App& app) {
  auto* cmd = app.add_subcommand("synth", "Write a small synthetic HF checkpoint for a model type");
  auto args = std::make_shared<SynthArgs>();
  cmd->add_option("MODEL_TYPE", args->model_type, "config.json model_type, e.g. qwen3_moe")
      ->required();
  cmd->add_option("DST", args->dst, "Directory to create")->required();
  cmd->add_option("--config", args->config,
                  "config.json to build from (default: the model's tiny config)");
  cmd->add_option("--layout", args->layout, "Routed experts per expert or fused (transformers v5)")
      ->check(CLI::IsMember({"per_expert", "fused"}));
  cmd->add_option("--seed", args->seed, "Seed of the values");
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "Largest shard, e.g. 5GB, 500MB, or bytes");
  cmd->add_flag("--force", args->force, "Replace DST if it exists");
  return [args]() { return synth(*args); };
}

}  // namespace chainconv::cli
