// chainconv demo: build a model type's tiny synthetic checkpoint from its layout
// (chains/layouts/), convert it to prime and back with its chain, print every step of both
// step programs, and check that the roundtrip returns the input, or differs only as the
// chain's declared lossy or canonicalising steps say. Everything happens in memory, on bytes:
// LibTorch is loaded only if the chain computes values.
#include <cstring>
#include <iostream>
#include <map>

#include "chainconv/commands.h"
#include "chainconv/step_printer.h"
#include "chainconv/synth_inputs.h"
#include "core/config.h"
#include "core/key_ranges.h"
#include "core/text.h"
#include "dsl/chain.h"
#include "io/file_executor.h"
#include "layout/layout.h"
#include "program/lower.h"
#include "registry/chain_registry.h"

namespace chainconv::cli {
namespace {

// A key set with its bytes.
struct Tensors {
  std::vector<TensorSpec> specs;
  std::vector<std::vector<uint8_t>> bytes;  // by spec
};

void print_keys(const char* title, const std::vector<TensorSpec>& specs) {
  std::vector<std::string> keys;
  for (const TensorSpec& s : specs) keys.push_back(s.key);
  std::sort(keys.begin(), keys.end(),
            [](const auto& a, const auto& b) { return natural_less(a, b); });
  std::cout << title << " (" << keys.size() << " tensors):\n";
  for (const KeyGroup& g : compress_keys(keys)) std::cout << "    " << g.pattern << "\n";
}

// Lowers the chain on `in`, prints the program, and plays it on the bytes.
// `config` is the checkpoint's config.json, for the parameters a chain reads from it.
Tensors convert(const Chain& chain, const Tensors& in, Direction direction,
                const nlohmann::json& config) {
  Options options;
  options.config = config.dump();
  Program program = lower(chain, direction, in.specs, options);
  std::cout << "\n" << direction_name(direction) << " (" << program.steps().size() << " steps):\n";
  print_steps(std::cout, program);
  for (const Warning& w : program.warnings()) std::cout << w.str() << "\n";
  std::map<std::string, const std::vector<uint8_t>*> by_key;
  for (size_t i = 0; i < in.specs.size(); ++i) by_key[in.specs[i].key] = &in.bytes[i];
  std::vector<const uint8_t*> inputs;
  for (uint32_t s = 0; s < program.inputs(); ++s)
    inputs.push_back(by_key.at(program.name(s))->data());
  Tensors out{output_specs(program), play_in_memory(program, inputs)};
  return out;
}

struct Differences {
  std::vector<std::string> missing, extra, changed;
  bool none() const { return missing.empty() && extra.empty() && changed.empty(); }
};

Differences compare(const Tensors& result, const Tensors& original) {
  std::map<std::string, size_t> back;
  for (size_t i = 0; i < result.specs.size(); ++i) back[result.specs[i].key] = i;
  Differences d;
  for (size_t i = 0; i < original.specs.size(); ++i) {
    const TensorSpec& want = original.specs[i];
    auto it = back.find(want.key);
    if (it == back.end()) {
      d.missing.push_back(want.key);
      continue;
    }
    const TensorSpec& got = result.specs[it->second];
    if (got.dtype != want.dtype || got.shape != want.shape ||
        result.bytes[it->second] != original.bytes[i])
      d.changed.push_back(want.key);
    back.erase(it);
  }
  for (const auto& [key, i] : back) d.extra.push_back(key);
  return d;
}

void print_keys(const char* what, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::cout << "    " << what << ":\n";
  for (const KeyGroup& g : compress_keys(keys)) std::cout << "        " << g.pattern << "\n";
}

// Every op of the chain that says it does not restore exactly what it consumed.
void collect_lossy(const Op& op, std::vector<std::string>& out) {
  if (std::string why = op.lossy(); !why.empty())
    out.push_back(op.pos().str() + ": " + std::string(op.kind()) + ": " + why);
  for (const Op* child : op.children()) collect_lossy(*child, out);
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "demo",
      "Convert a model type's tiny synthetic checkpoint to prime and back, showing each step");
  auto model_type = std::make_shared<std::string>("qwen3_moe");
  auto chain_file = std::make_shared<std::string>();
  auto inputs = std::make_shared<LayoutInputs>();
  auto fused = std::make_shared<bool>(false);
  auto seed = std::make_shared<uint64_t>(0);
  auto* model_type_opt =
      cmd->add_option("--model-type", *model_type,
                      "Model type (default: --config's, else qwen3_moe); its tiny config and "
                      "layout come from the chains directories' layouts/")
          ->capture_default_str();
  auto target = std::make_shared<std::string>("prime");
  cmd->add_option("--chain", *chain_file,
                  "Chain file (default: the registered chain for the model type and target)");
  cmd->add_option("--target", *target, "The chain target: prime or another, e.g. torchtitan")
      ->capture_default_str();
  add_layout_input_options(cmd, *inputs);
  cmd->add_flag("--fused", *fused,
                "Generate the HF checkpoint with fused experts (where the model has them)");
  cmd->add_option("--seed", *seed, "Seed of the synthetic values")->capture_default_str();
  return [=]() {
    // With --config alone the config says which model it is.
    std::string type = *model_type;
    if (model_type_opt->count() == 0 && !inputs->config.empty())
      type = model_type_of(read_config_file(inputs->config, "config"), inputs->config);
    std::string file =
        chain_file->empty()
            ? ChainRegistry::scan(chains_search_path(inputs->chains_dirs), *target).chain_for(type)
            : *chain_file;
    auto chain = load_chain_file(file);
    std::cout << "chain " << file << " serves";
    for (const auto& t : chain->model_types) std::cout << " " << t;
    std::cout << "\n";
    const LoadedLayout loaded =
        load_layout_inputs(type, *inputs, *fused ? ExpertLayout::fused : ExpertLayout::per_expert);
    const Layout& layout = loaded.layout;
    std::cout << "checkpoint: " << loaded.config_source << " laid out by " << loaded.layout_file
              << (*fused ? ", fused experts" : ", per-expert experts") << ", seed " << *seed
              << "\n\n";
    Tensors hf{layout.tensors, {}};
    for (const TensorSpec& spec : hf.specs) hf.bytes.push_back(synthetic_bytes(spec, *seed));
    print_keys("HF state dict", hf.specs);

    Tensors prime = convert(*chain, hf, Direction::to_prime, loaded.config);
    std::cout << "\n";
    print_keys((*target + " state dict").c_str(), prime.specs);
    Tensors back = convert(*chain, prime, Direction::to_hf, loaded.config);

    Differences diff = compare(back, hf);
    std::cout << "\nroundtrip HF -> " << *target << " -> HF: " << back.specs.size() << " tensors, ";
    if (diff.none()) {
      std::cout << "identical to the input (keys, dtypes, shapes, values)\n";
      return 0;
    }
    std::vector<std::string> lossy;
    for (const OpPtr& op : chain->ops) collect_lossy(*op, lossy);
    std::cout << "differs from the input:\n";
    print_keys("not restored", diff.missing);
    print_keys("new keys (the canonical form of the input)", diff.extra);
    print_keys("changed values or shapes", diff.changed);
    if (lossy.empty() && !*fused) {
      std::cout << "the chain declares no lossy step: this is a bug in the chain\n";
      return 1;
    }
    std::cout << "as the chain declares (lossy or canonicalising steps):\n";
    if (*fused) std::cout << "    fused experts come back in the canonical per-expert layout\n";
    for (const std::string& line : lossy) std::cout << "    " << line << "\n";
    return 0;
  };
}

}  // namespace chainconv::cli
