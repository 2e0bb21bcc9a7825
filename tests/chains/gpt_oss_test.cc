// gpt_oss: HF and prime coincide; the chain is the identity, except that with dequantize=true
// the published MXFP4 experts are decoded (and transposed into the BF16 layout).
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {
StateDict identity(StateDict d, int) { return d; }
const ModelCase kGptOss{"gpt_oss", identity};
}  // namespace

TEST_CASE("gpt_oss is the identity in both directions") {
  auto chain = model_chain("gpt_oss");
  CHECK(chain->ops.size() == 1);  // the dequantize conditional, which the BF16 layout skips
  CHECK(chain->description.find("identity") != std::string::npos);
  check_forward(kGptOss, ExpertLayout::per_expert);
  check_backward_and_roundtrips(kGptOss);
  check_single_layer(kGptOss, "model.layers.1.");
}

TEST_CASE("gpt_oss expert-parallel shard passes unchanged with an offset") {
  auto chain = model_chain("gpt_oss");
  StateDict hf = tiny_hf("gpt_oss");
  // Local experts 2..3 of 4: a slice of each fused expert tensor.
  StateDict shard;
  for (const char* name : {"gate_up_proj", "gate_up_proj_bias", "down_proj", "down_proj_bias"}) {
    std::string key = std::string("model.layers.0.mlp.experts.") + name;
    shard.insert(key, hf.at(key).narrow(0, 2, 2));
  }
  Options options;
  options.expert_offset = 2;
  require_identical(convert(*chain, shard, Direction::to_prime, options), shard);
  require_identical(convert(*chain, shard, Direction::to_hf, options), shard);
}

TEST_CASE("gpt_oss with dequantize=true decodes MXFP4 experts into the BF16 [E, in, out] layout") {
  auto chain = model_chain("gpt_oss");
  // 2 experts, 2I = 4 rows (outputs), H = 32 inputs (one group of 32). Every byte holds code 7
  // (6.0) twice, except expert 1 row 3's first byte: code 1 (0.5), then code 7 (6.0); that
  // row's scale is 128 (x2), the rest 127 (x1). down_proj is all zero, with the exponent
  // byte 0 that packing gives a zero group.
  at::Tensor blocks = at::full({2, 4, 1, 16}, 0x77, at::kByte);
  blocks[1][3][0][0] = 0x71;
  at::Tensor scales = at::full({2, 4, 1}, 127, at::kByte);
  scales[1][3][0] = 128;
  StateDict hf{
      {"model.layers.0.mlp.experts.gate_up_proj_blocks", blocks},
      {"model.layers.0.mlp.experts.gate_up_proj_scales", scales},
      {"model.layers.0.mlp.experts.down_proj_blocks", at::full({2, 32, 1, 16}, 0, at::kByte)},
      {"model.layers.0.mlp.experts.down_proj_scales", at::full({2, 32, 1}, 0, at::kByte)}};
  Options options;
  options.params["dequantize"] = "true";
  StateDict prime = convert(*chain, hf, Direction::to_prime, options);
  REQUIRE(prime.keys() == std::vector<std::string>{"model.layers.0.mlp.experts.down_proj",
                                                   "model.layers.0.mlp.experts.gate_up_proj"});
  const at::Tensor w = prime.at("model.layers.0.mlp.experts.gate_up_proj");
  REQUIRE(w.scalar_type() == at::kBFloat16);
  REQUIRE(w.sizes() == at::IntArrayRef{2, 32, 4});  // [E, H, 2I]: input dim first
  at::Tensor expected = at::full({2, 32, 4}, 6.0);
  // [e][in][out]: expert 1's output 3 is doubled; its inputs 0 and 1 are 0.5 x 2 and 6.0 x 2.
  for (int in = 0; in < 32; ++in) expected[1][in][3] = in == 0 ? 1.0 : 12.0;
  CHECK(at::equal(w.to(at::kFloat), expected));
  CHECK(prime.at("model.layers.0.mlp.experts.down_proj").sizes() == at::IntArrayRef{2, 32, 32});

  // Without the parameter the MXFP4 tensors move as bytes.
  require_identical(convert(*chain, hf, Direction::to_prime, {}), hf);
  // Back to HF, packed again: every group's largest code was 6, so the bytes and the
  // exponents come back exactly.
  require_identical(convert(*chain, prime, Direction::to_hf, options), hf);
}
