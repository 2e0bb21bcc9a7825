// Helpers for the public-API tests: they see only <chainconv/chainconv.h>, as a trainer does.
#pragma once

#include <ATen/ATen.h>
#include <chainconv/chainconv.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/tensors.h"

namespace api_test {

namespace cc = chainconv::api;

using chainconv::testing::counting;

// Qwen3-MoE HF keys of one MoE layer holding experts first..first+n-1 (per-expert layout),
// plus a norm that no op touches. I = 2, H = 3.
inline cc::TensorMap hf_moe_layer(int layer, int first, int n, double start = 0) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  cc::TensorMap sd;
  sd[p + "input_layernorm.weight"] = counting({3}, start + 1000);
  sd[p + "mlp.gate.weight"] = counting({n, 3}, start + 2000);
  for (int e = first; e < first + n; ++e) {
    const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
    sd[x + "gate_proj.weight"] = counting({2, 3}, start + 100 * e);
    sd[x + "down_proj.weight"] = counting({3, 2}, start + 100 * e + 10);
    sd[x + "up_proj.weight"] = counting({2, 3}, start + 100 * e + 20);
  }
  return sd;
}

inline std::vector<std::string> sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

inline std::vector<std::string> keys_of(const cc::TensorMap& sd) {
  std::vector<std::string> keys;
  for (const auto& entry : sd) keys.push_back(entry.first);
  return sorted(keys);
}

// The text of line `line` (1-based) of `file`: where an error position points.
inline std::string line_of(const std::string& file, int line) {
  std::ifstream in(file);
  std::string text;
  for (int i = 0; i < line && std::getline(in, text); ++i) {
  }
  return text;
}

}  // namespace api_test
