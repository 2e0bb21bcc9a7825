// chainconv_bench: how long the interpreter takes to convert full-size key sets, with meta
// tensors so that only the chain's own work is measured (template matching, bookkeeping,
// and ATen's metadata for stack/select), not memory traffic.
//
// For each key set: the full dict in both directions, and the same keys converted one layer
// group at a time (as a trainer streaming weights does). Reports the median of --reps runs
// and the ratios the targets are stated in; --smoke runs a small version in seconds for CI.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>

#include "core/error.h"
#include "dsl/chain.h"
#include "io/trace.h"
#include "layout/layout.h"
#include "registry/chain_registry.h"

using namespace chainconv;

namespace {

struct KeySet {
  std::string name;
  std::string model_type;
  nlohmann::json config;
};

struct Timing {
  double forward_full = 0, backward_full = 0, forward_layers = 0, backward_layers = 0;
  size_t hf_keys = 0, prime_keys = 0, groups = 0;
};

// The converter's own layer groups (engine/io/trace.h), so the per-layer numbers measure
// what chainconv convert and a streaming trainer do.
std::vector<StateDict> split_by_layer(const StateDict& dict) {
  std::map<std::string, StateDict> groups;
  for (const auto& [key, item] : dict) groups[layer_group_of(key)].insert(key, item);
  std::vector<StateDict> result;
  for (auto& [name, group] : groups) result.push_back(std::move(group));
  return result;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

template <typename F>
double time_ms(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

Timing measure(const KeySet& set, int reps) {
  const ChainRegistry registry = ChainRegistry::scan();
  auto chain = load_chain_file(registry.chain_for(set.model_type));
  const StateDict hf = meta_state_dict(make_layout(set.config));
  StateDict prime = hf;
  chain->to_prime(prime);
  StateDict hf_again = prime;  // differs from hf where the chain is lossy (drops, canonical names)
  chain->to_hf(hf_again);
  const std::vector<StateDict> hf_groups = split_by_layer(hf);
  const std::vector<StateDict> prime_groups = split_by_layer(prime);

  Timing t;
  t.hf_keys = hf.size();
  t.prime_keys = prime.size();
  t.groups = hf_groups.size();
  std::vector<double> ff, bf, fl, bl;
  for (int r = 0; r < reps; ++r) {
    StateDict work = hf;  // copies are made outside the timed region
    ff.push_back(time_ms([&] { chain->to_prime(work); }));
    if (work.size() != prime.size()) throw Error("forward produced " + std::to_string(work.size()) + " keys");
    work = prime;
    bf.push_back(time_ms([&] { chain->to_hf(work); }));
    if (work.size() != hf_again.size()) throw Error("backward produced " + std::to_string(work.size()) + " keys");
    std::vector<StateDict> groups = hf_groups;
    fl.push_back(time_ms([&] {
      for (StateDict& g : groups) chain->to_prime(g);
    }));
    groups = prime_groups;
    bl.push_back(time_ms([&] {
      for (StateDict& g : groups) chain->to_hf(g);
    }));
  }
  t.forward_full = median(ff);
  t.backward_full = median(bf);
  t.forward_layers = median(fl);
  t.backward_layers = median(bl);
  return t;
}

KeySet full_size(const std::string& name, const std::string& model_type) {
  return {name, model_type, full_config(model_type)};
}

// DeepSeek-V3-sized (61 layers x 256 experts, every layer MoE) in the Qwen3-MoE layout: the
// same chain on ~2.5x the keys, to show cost grows linearly with the key count.
KeySet deepseek_scale() {
  nlohmann::json config = full_config("qwen3_moe");
  config["num_hidden_layers"] = 61;
  config["num_experts"] = 256;
  config["hidden_size"] = 7168;
  config["moe_intermediate_size"] = 2048;
  config["mlp_only_layers"] = nlohmann::json::array();
  return {"deepseek-v3-scale (qwen3_moe chain)", "qwen3_moe", config};
}

KeySet smoke_set(const std::string& model_type) {
  return {model_type + " (tiny)", model_type, tiny_config(model_type)};
}

struct Target {
  std::string what;
  double value;
  double limit;
  std::string unit;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chainconv_bench: interpreter overhead on full-size key sets (meta tensors)"};
  int reps = 7;
  bool smoke = false;
  std::string format = "text";
  std::string only;
  app.add_option("--reps", reps, "Runs per measurement; the median is reported")->check(CLI::Range(1, 1000));
  app.add_flag("--smoke", smoke, "Tiny key sets, 1 run: checks the benchmark still works (CI)");
  app.add_option("--only", only, "Measure only the key sets whose name contains this (no target report)");
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<KeySet> sets;
    if (smoke) {
      reps = 1;
      for (const char* type : {"qwen3_moe", "nemotron_h"}) sets.push_back(smoke_set(type));
    } else {
      sets = {full_size("qwen3-30b-a3b", "qwen3_moe"), full_size("nemotron-h-nano-30b-a3b", "nemotron_h"),
              deepseek_scale()};
    }
    if (!only.empty()) {
      sets.erase(std::remove_if(sets.begin(), sets.end(),
                                [&](const KeySet& s) { return s.name.find(only) == std::string::npos; }),
                 sets.end());
      smoke = true;  // a partial run has no target report
    }
    std::vector<std::pair<KeySet, Timing>> results;
    for (const KeySet& set : sets) results.emplace_back(set, measure(set, reps));

    nlohmann::json report = nlohmann::json::array();
    std::cout << std::fixed << std::setprecision(2);
    if (format == "text")
      std::cout << "median of " << reps << " runs, milliseconds\n\n"
                << std::left << std::setw(38) << "key set" << std::right << std::setw(8) << "HF keys" << std::setw(10)
                << "fwd full" << std::setw(10) << "bwd full" << std::setw(12) << "fwd layers" << std::setw(12)
                << "bwd layers" << std::setw(9) << "groups\n";
    for (const auto& [set, t] : results) {
      if (format == "text")
        std::cout << std::left << std::setw(38) << set.name << std::right << std::setw(8) << t.hf_keys << std::setw(10)
                  << t.forward_full << std::setw(10) << t.backward_full << std::setw(12) << t.forward_layers
                  << std::setw(12) << t.backward_layers << std::setw(8) << t.groups << "\n";
      report.push_back({{"key_set", set.name}, {"hf_keys", t.hf_keys}, {"prime_keys", t.prime_keys},
                        {"forward_full_ms", t.forward_full}, {"backward_full_ms", t.backward_full},
                        {"forward_layers_ms", t.forward_layers}, {"backward_layers_ms", t.backward_layers},
                        {"layer_groups", t.groups}, {"reps", reps}});
    }
    if (smoke) {
      if (format == "json") std::cout << report.dump(2) << "\n";
      return 0;
    }
    const Timing& qwen = results[0].second;
    const Timing& nemo = results[1].second;
    const Timing& big = results[2].second;
    std::vector<Target> targets = {
        {"qwen3-30b forward, full dict", qwen.forward_full, 3, "ms"},
        {"qwen3-30b backward, full dict", qwen.backward_full, 5, "ms"},
        {"nemotron-h forward, full dict", nemo.forward_full, 3, "ms"},
        {"nemotron-h backward, full dict", nemo.backward_full, 3, "ms"},
        {"qwen3-30b per-layer / full, forward", qwen.forward_layers / qwen.forward_full, 1.2, "x"},
        {"qwen3-30b per-layer / full, backward", qwen.backward_layers / qwen.backward_full, 1.2, "x"},
        {"47k keys / 18.9k keys, forward", big.forward_full / qwen.forward_full, 2.8, "x"},
        {"47k keys / 18.9k keys, backward", big.backward_full / qwen.backward_full, 2.8, "x"},
    };
    nlohmann::json checks = nlohmann::json::array();
    if (format == "text") std::cout << "\ntargets\n";
    for (const Target& target : targets) {
      bool met = target.value <= target.limit;
      if (format == "text")
        std::cout << "  " << std::left << std::setw(40) << target.what << std::right << std::setw(8) << target.value
                  << " " << target.unit << "  (target <= " << target.limit << " " << target.unit << ")  "
                  << (met ? "met" : "MISSED") << "\n";
      checks.push_back({{"what", target.what}, {"value", target.value}, {"limit", target.limit},
                        {"unit", target.unit}, {"met", met}});
    }
    if (format == "json") std::cout << nlohmann::json{{"results", report}, {"targets", checks}}.dump(2) << "\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "chainconv_bench: error: " << e.what() << "\n";
    return 1;
  }
}
