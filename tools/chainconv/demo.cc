// chainconv demo: build a model type's tiny synthetic checkpoint from its layout
// (chains/layouts/), convert it to prime and back with its chain, print every step, and check
// that the roundtrip returns the input, or differs only as the chain's declared lossy or
// canonicalising steps say.
#include <ATen/ATen.h>

#include <iostream>

#include "chainconv/commands.h"
#include "chainconv/step_printer.h"
#include "core/key_ranges.h"
#include "dsl/chain.h"
#include "layout/layout.h"
#include "registry/chain_registry.h"

namespace chainconv::cli {
namespace {

void print_dict(const char* title, const StateDict& sd) {
  std::cout << title << " (" << sd.size() << " tensors):\n";
  for (const KeyGroup& g : compress_keys(sd.keys())) std::cout << "    " << g.pattern << "\n";
}

// Every op of the chain that says it does not restore exactly what it consumed.
void collect_lossy(const Op& op, std::vector<std::string>& out) {
  if (std::string why = op.lossy(); !why.empty())
    out.push_back(op.pos().str() + ": " + std::string(op.kind()) + ": " + why);
  for (const Op* child : op.children()) collect_lossy(*child, out);
}

struct Differences {
  std::vector<std::string> missing, extra, changed;
  bool none() const { return missing.empty() && extra.empty() && changed.empty(); }
};

Differences compare(const StateDict& result, const StateDict& original) {
  Differences d;
  for (const std::string& key : original.keys()) {
    const Item* item = result.find(key);
    if (!item) {
      d.missing.push_back(key);
      continue;
    }
    const Item& want = original.item(key);
    if (item->opaque_dtype != want.opaque_dtype ||
        item->tensor.scalar_type() != want.tensor.scalar_type() ||
        item->tensor.sizes() != want.tensor.sizes() || !at::equal(item->tensor, want.tensor))
      d.changed.push_back(key);
  }
  for (const std::string& key : result.keys())
    if (!original.contains(key)) d.extra.push_back(key);
  return d;
}

void print_keys(const char* what, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::cout << "    " << what << ":\n";
  for (const KeyGroup& g : compress_keys(keys)) std::cout << "        " << g.pattern << "\n";
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "demo",
      "Convert a model type's tiny synthetic checkpoint to prime and back, showing each step");
  auto model_type = std::make_shared<std::string>("qwen3_moe");
  auto chain_file = std::make_shared<std::string>();
  auto fused = std::make_shared<bool>(false);
  auto seed = std::make_shared<uint64_t>(0);
  cmd->add_option("--model-type", *model_type,
                  "Model type (its tiny config and layout come from chains/layouts/)")
      ->capture_default_str();
  cmd->add_option("--chain", *chain_file,
                  "Chain file (default: the registered chain for the model type)");
  cmd->add_flag("--fused", *fused,
                "Generate the HF checkpoint with fused experts (where the model has them)");
  cmd->add_option("--seed", *seed, "Seed of the synthetic values")->capture_default_str();
  return [=]() {
    std::string file =
        chain_file->empty() ? ChainRegistry::scan().chain_for(*model_type) : *chain_file;
    auto chain = load_chain_file(file);
    std::cout << "chain " << file << " serves";
    for (const auto& t : chain->model_types) std::cout << " " << t;
    std::cout << "\n";

    Layout layout = make_layout(tiny_config(*model_type),
                                *fused ? ExpertLayout::fused : ExpertLayout::per_expert);
    std::cout << "checkpoint: chains/layouts tiny config of " << layout.model_type
              << (*fused ? ", fused experts" : ", per-expert experts") << ", seed " << *seed
              << "\n\n";
    StateDict hf = synthetic_state_dict(layout, *seed);
    StateDict original;
    for (const auto& [key, item] : hf)
      original.insert(key, Item{item.tensor.clone(), item.opaque_dtype});
    print_dict("HF state dict", hf);

    StepPrinter printer(std::cout);
    std::cout << "\nto_prime:\n";
    for (const auto& w : chain->run(hf, Direction::to_prime, {}, &printer))
      std::cout << w.str() << "\n";
    print_dict("\nprime state dict", hf);

    std::cout << "\nto_hf:\n";
    for (const auto& w : chain->run(hf, Direction::to_hf, {}, &printer))
      std::cout << w.str() << "\n";

    Differences diff = compare(hf, original);
    std::cout << "\nroundtrip HF -> prime -> HF: " << hf.size() << " tensors, ";
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
