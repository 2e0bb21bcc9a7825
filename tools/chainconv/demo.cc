// chainconv demo: load a chain, convert a small generated Qwen3-MoE-shaped state dict to
// prime and back, print every step, and check the roundtrip returns the input exactly.
#include <ATen/ATen.h>

#include <iostream>

#include "chainconv/commands.h"
#include "chainconv/step_printer.h"
#include "core/key_ranges.h"
#include "dsl/chain.h"
#include "registry/chain_registry.h"

namespace chainconv::cli {
namespace {

// Two layers (0 dense, 1 MoE with `experts` per-expert experts), tiny dims, values that
// identify each element.
StateDict qwen3_moe_example(int experts) {
  const int64_t H = 8, I = 4, V = 16;
  StateDict sd;
  double next = 0;
  auto tensor = [&](std::vector<int64_t> shape) {
    at::Tensor t = at::arange(next, next + at::prod(at::tensor(shape)).item<double>()).reshape(shape).to(at::kBFloat16);
    next += static_cast<double>(t.numel());
    return t;
  };
  sd.insert("model.embed_tokens.weight", tensor({V, H}));
  for (int l = 0; l < 2; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    sd.insert(p + "input_layernorm.weight", tensor({H}));
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"}) sd.insert(p + "self_attn." + proj + ".weight", tensor({H, H}));
    if (l == 0) {
      sd.insert(p + "mlp.gate_proj.weight", tensor({I, H}));
      sd.insert(p + "mlp.up_proj.weight", tensor({I, H}));
      sd.insert(p + "mlp.down_proj.weight", tensor({H, I}));
      continue;
    }
    sd.insert(p + "mlp.gate.weight", tensor({experts, H}));
    for (int e = 0; e < experts; ++e) {
      std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      sd.insert(x + "gate_proj.weight", tensor({I, H}));
      sd.insert(x + "up_proj.weight", tensor({I, H}));
      sd.insert(x + "down_proj.weight", tensor({H, I}));
    }
  }
  sd.insert("model.norm.weight", tensor({H}));
  sd.insert("lm_head.weight", tensor({V, H}));
  return sd;
}

void print_dict(const char* title, const StateDict& sd) {
  std::cout << title << " (" << sd.size() << " tensors):\n";
  for (const KeyGroup& g : compress_keys(sd.keys())) std::cout << "    " << g.pattern << "\n";
}

bool identical(const StateDict& a, const StateDict& b) {
  if (a.keys() != b.keys()) return false;
  for (const auto& [key, item] : a)
    if (!at::equal(item.tensor, b.at(key))) return false;
  return true;
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "Convert a small generated Qwen3-MoE state dict to prime and back, showing each step");
  auto chain_file = std::make_shared<std::string>();
  auto experts = std::make_shared<int>(4);
  cmd->add_option("--chain", *chain_file, "Chain file (default: the registered chain for qwen3_moe)");
  cmd->add_option("--experts", *experts, "Experts in the MoE layer")->check(CLI::Range(1, 64));
  return [=]() {
    std::string file = chain_file->empty() ? ChainRegistry::scan().chain_for("qwen3_moe") : *chain_file;
    auto chain = load_chain_file(file);
    std::cout << "chain " << file << " serves";
    for (const auto& t : chain->model_types) std::cout << " " << t;
    std::cout << "\n\n";
    StateDict hf = qwen3_moe_example(*experts);
    StateDict original;
    for (const auto& [key, item] : hf) original.insert(key, item.tensor.clone());
    print_dict("HF state dict", hf);

    StepPrinter printer(std::cout);
    std::cout << "\nto_prime:\n";
    for (const auto& w : chain->run(hf, Direction::to_prime, {}, &printer)) std::cout << w.str() << "\n";
    print_dict("\nprime state dict", hf);

    std::cout << "\nto_hf:\n";
    for (const auto& w : chain->run(hf, Direction::to_hf, {}, &printer)) std::cout << w.str() << "\n";
    bool same = identical(hf, original);
    std::cout << "\nroundtrip HF -> prime -> HF: " << hf.size() << " tensors, "
              << (same ? "identical to the input (keys, dtypes, shapes, values)" : "DIFFERS from the input") << "\n";
    return same ? 0 : 1;
  };
}

}  // namespace chainconv::cli
