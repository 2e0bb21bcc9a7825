// chainconv_first_call: a trainer's first conversion, as a process makes it once.
//
// chainconv_bench's `api first` times first calls one after another in a process that has
// converted before, so malloc has the memory at hand. A trainer converts a key set the first
// time in a process that has not: each rep here loads the chain, copies the Qwen3-30B-A3B
// key set (meta tensors), converts it once, and frees everything, so that memory goes back
// to the system in between as it would. Medians of --reps.
//
//   chainconv_first_call [--reps 41] [--layers 48]
#include <ATen/ATen.h>
#include <chainconv/chainconv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using chainconv::api::Chain;
using chainconv::api::TensorMap;

namespace {

at::Tensor meta(std::vector<int64_t> shape) {
  return at::empty(shape, at::TensorOptions().dtype(at::kBFloat16).device(at::kMeta));
}

// The Qwen3-30B-A3B HF key set (docs/MODELS.md) with `layers` layers of 128 experts.
TensorMap qwen3_moe_hf(int layers) {
  TensorMap hf;
  hf.emplace("model.embed_tokens.weight", meta({151936, 2048}));
  hf.emplace("model.norm.weight", meta({2048}));
  hf.emplace("lm_head.weight", meta({151936, 2048}));
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    hf.emplace(p + "input_layernorm.weight", meta({2048}));
    hf.emplace(p + "post_attention_layernorm.weight", meta({2048}));
    hf.emplace(p + "self_attn.q_proj.weight", meta({4096, 2048}));
    hf.emplace(p + "self_attn.k_proj.weight", meta({512, 2048}));
    hf.emplace(p + "self_attn.v_proj.weight", meta({512, 2048}));
    hf.emplace(p + "self_attn.o_proj.weight", meta({2048, 4096}));
    hf.emplace(p + "self_attn.q_norm.weight", meta({128}));
    hf.emplace(p + "self_attn.k_norm.weight", meta({128}));
    hf.emplace(p + "mlp.gate.weight", meta({128, 2048}));
    for (int e = 0; e < 128; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      hf.emplace(x + "gate_proj.weight", meta({768, 2048}));
      hf.emplace(x + "up_proj.weight", meta({768, 2048}));
      hf.emplace(x + "down_proj.weight", meta({2048, 768}));
    }
  }
  return hf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 41, layers = 48;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--layers") == 0) layers = std::max(1, std::atoi(argv[i + 1]));
  }
  try {
    const TensorMap hf = qwen3_moe_hf(layers);
    TensorMap prime = hf;
    Chain::for_model_type("qwen3_moe").to_prime(prime);
    std::vector<double> forward, backward;
    for (int r = 0; r < reps; ++r) {
      for (bool to_prime : {true, false}) {
        TensorMap map = to_prime ? hf : prime;
        const Chain chain = Chain::for_model_type("qwen3_moe");
        const auto start = std::chrono::steady_clock::now();
        to_prime ? chain.to_prime(map) : chain.to_hf(map);
        const std::chrono::duration<double, std::milli> ms =
            std::chrono::steady_clock::now() - start;
        (to_prime ? forward : backward).push_back(ms.count());
      }
    }
    std::printf("qwen3_moe, %d layers (%zu HF keys): first call, median of %d, to_prime %.2f ms, "
                "to_hf %.2f ms\n",
                layers, hf.size(), reps, median(forward), median(backward));
  } catch (const chainconv::api::Error& e) {
    std::fprintf(stderr, "chainconv_first_call: %s\n", e.what());
    return 1;
  }
  return 0;
}
