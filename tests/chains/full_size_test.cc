// The symbolic roundtrip at full size: each model's full-size layout on meta tensors (shapes
// and dtypes, no data) converts HF -> prime -> HF back to identical keys, shapes and dtypes,
// and prime -> HF -> prime likewise. The documented exceptions are asserted explicitly: fused
// experts come back per-expert (canonicalising).
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

void check_full_size(const std::string& model_type, size_t expected_keys = 0) {
  auto chain = model_chain(model_type);
  Layout layout =
      make_layout(full_config(model_type, chains_dir()), ExpertLayout::per_expert, chains_dir());
  if (expected_keys) REQUIRE(layout.tensors.size() == expected_keys);
  StateDict hf = meta_state_dict(layout);
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  REQUIRE(prime.begin()->second.tensor.is_meta());
  require_identical(convert(*chain, prime, Direction::to_hf), hf);
  require_identical(convert(*chain, convert(*chain, prime, Direction::to_hf), Direction::to_prime),
                    prime);

  if (has_fused_layout(model_type, chains_dir())) {
    // Fused in: the same prime dict, and the per-expert (canonical) HF layout back.
    StateDict fused = meta_state_dict(
        make_layout(full_config(model_type, chains_dir()), ExpertLayout::fused, chains_dir()));
    REQUIRE(fused.size() < hf.size());
    StateDict fused_prime = convert(*chain, fused, Direction::to_prime);
    require_identical(fused_prime, prime);
    require_identical(convert(*chain, fused_prime, Direction::to_hf), hf);
  }
}

}  // namespace

TEST_CASE("full size qwen3_moe (Qwen3-30B-A3B) roundtrips on meta tensors") {
  check_full_size("qwen3_moe", 18867);
}
TEST_CASE("full size qwen3_5_moe VLM roundtrips on meta tensors") {
  check_full_size("qwen3_5_moe");
}
TEST_CASE("full size qwen3_5_moe_text roundtrips on meta tensors") {
  check_full_size("qwen3_5_moe_text");
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
