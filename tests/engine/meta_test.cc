// The same chain runs on meta tensors (shapes and dtypes only, no data): this is how the
// checks execute a chain symbolically on a full-size layout.
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

TEST_CASE("the qwen3_moe chain runs on meta tensors both ways") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  const int L = 3, E = 8, I = 16, H = 32;
  StateDict hf;
  for (int l = 0; l < L; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    hf.insert(p + "gate.weight", meta({E, H}));
    for (int e = 0; e < E; ++e) {
      std::string x = p + "experts." + std::to_string(e) + ".";
      hf.insert(x + "gate_proj.weight", meta({I, H}));
      hf.insert(x + "down_proj.weight", meta({H, I}));
      hf.insert(x + "up_proj.weight", meta({I, H}));
    }
  }
  StateDict sd = clone(hf);
  to_prime(*chain, sd);
  REQUIRE(sd.size() == L * 4);
  CHECK(sd.at("model.layers.2.mlp.experts.w1").sizes() == at::IntArrayRef{E, I, H});
  CHECK(sd.at("model.layers.2.mlp.experts.w2").sizes() == at::IntArrayRef{E, H, I});
  CHECK(sd.at("model.layers.2.mlp.experts.w1").is_meta());
  CHECK(sd.at("model.layers.0.mlp.router.gate.weight").scalar_type() == at::kBFloat16);
  to_hf(*chain, sd);
  require_same(sd, hf);
}

TEST_CASE("value transforms keep shape and dtype on meta tensors") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: meta map
ops:
  - map: {key: b, forward: subtract_min, backward: identity, lossy: shift}
)");
  StateDict sd{{"b", meta({7}, at::kFloat)}};
  to_prime(*chain, sd);
  CHECK(sd.at("b").sizes() == at::IntArrayRef{7});
  CHECK(sd.at("b").scalar_type() == at::kFloat);
}
