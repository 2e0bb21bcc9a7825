// The symbolic roundtrip at full size: each model's full-size layout on meta tensors (shapes
// and dtypes, no data) converts HF -> prime -> HF back to identical keys, shapes and dtypes,
// and prime -> HF -> prime likewise. The documented exception is asserted explicitly: experts
// in the other HF layout come back in the published one (canonicalising).
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// `published`: the HF expert layout of the model's published checkpoint, which backward
// writes by default (the chain's hf_experts); the other layout comes back in it.
void check_full_size(const std::string& model_type, size_t expected_keys = 0,
                     ExpertLayout published = ExpertLayout::per_expert) {
  auto chain = model_chain(model_type);
  Layout layout = make_layout(full_config(model_type, chains_dir()), published, chains_dir());
  if (expected_keys) REQUIRE(layout.tensors.size() == expected_keys);
  StateDict hf = meta_state_dict(layout);
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  REQUIRE(prime.begin()->second.tensor.is_meta());
  require_identical(convert(*chain, prime, Direction::to_hf), hf);
  require_identical(convert(*chain, convert(*chain, prime, Direction::to_hf), Direction::to_prime),
                    prime);

  if (has_fused_layout(model_type, chains_dir())) {
    // The other HF layout in: the same prime dict, and the published layout back.
    const ExpertLayout other =
        published == ExpertLayout::fused ? ExpertLayout::per_expert : ExpertLayout::fused;
    StateDict other_hf =
        meta_state_dict(make_layout(full_config(model_type, chains_dir()), other, chains_dir()));
    REQUIRE((other == ExpertLayout::fused ? other_hf.size() < hf.size()
                                          : other_hf.size() > hf.size()));
    StateDict other_prime = convert(*chain, other_hf, Direction::to_prime);
    require_identical(other_prime, prime);
    require_identical(convert(*chain, other_prime, Direction::to_hf), hf);
  }
}

}  // namespace

TEST_CASE("full size qwen3_moe (Qwen3-30B-A3B) roundtrips on meta tensors") {
  check_full_size("qwen3_moe", 18867);
}
TEST_CASE("full size qwen3_5_moe VLM roundtrips on meta tensors") {
  check_full_size("qwen3_5_moe", 0, ExpertLayout::fused);
}
TEST_CASE("full size qwen3_5_moe_text roundtrips on meta tensors") {
  check_full_size("qwen3_5_moe_text", 0, ExpertLayout::fused);
}
TEST_CASE("full size glm4_moe roundtrips on meta tensors") { check_full_size("glm4_moe"); }
TEST_CASE("full size glm_moe_dsa roundtrips on meta tensors") { check_full_size("glm_moe_dsa"); }
TEST_CASE("full size minimax_m2 roundtrips on meta tensors") { check_full_size("minimax_m2"); }
TEST_CASE("full size laguna roundtrips on meta tensors") { check_full_size("laguna"); }
TEST_CASE("full size afmoe roundtrips on meta tensors") { check_full_size("afmoe"); }
TEST_CASE("full size nemotron_h (Nano 30B-A3B) roundtrips on meta tensors") {
  check_full_size("nemotron_h", 6243);
}
TEST_CASE("full size gpt_oss roundtrips on meta tensors") { check_full_size("gpt_oss"); }
// Key counts by hand from the published configs. Mixtral-8x7B: 3 + 32 layers x (2 norms +
// 4 attention + gate + 8 experts x 3).
TEST_CASE("full size mixtral (8x7B) roundtrips on meta tensors") {
  check_full_size("mixtral", 3 + 32 * (2 + 4 + 1 + 8 * 3));
}
// Qwen1.5-MoE-A2.7B: 3 + 24 x (2 norms + 4 attention + 3 biases + gate + 60 x 3 + 3 shared +
// shared gate).
TEST_CASE("full size qwen2_moe (Qwen1.5-MoE-A2.7B) roundtrips on meta tensors") {
  check_full_size("qwen2_moe", 3 + 24 * (2 + 4 + 3 + 1 + 60 * 3 + 3 + 1));
}
// OLMoE-1B-7B: 3 + 16 x (2 norms + 4 attention + q/k norms + gate + 64 x 3).
TEST_CASE("full size olmoe (OLMoE-1B-7B) roundtrips on meta tensors") {
  check_full_size("olmoe", 3 + 16 * (2 + 4 + 2 + 1 + 64 * 3));
}
// DeepSeek-V3, FP8: 3 + 62 layers (61 + the MTP layer) x (2 norms + 5 attention projections
// with companions + 2 attention norms) + 3 dense MLPs x 3 x 2 + 59 MoE layers x (gate + bias +
// 256 x 3 x 2 + 3 x 2 shared) + 6 MTP extras.
TEST_CASE("full size deepseek_v3 (DeepSeek-V3, FP8) roundtrips on meta tensors") {
  check_full_size("deepseek_v3",
                  3 + 62 * (2 + 5 * 2 + 2) + 3 * 3 * 2 + 59 * (1 + 1 + 256 * 3 * 2 + 3 * 2) + 6);
}
