// gpt_oss: HF and prime coincide; the chain is empty and says it is the identity.
#include "chains/chain_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {
StateDict identity(StateDict d, int) { return d; }
const ModelCase kGptOss{"gpt_oss", identity};
}  // namespace

TEST_CASE("gpt_oss is the identity in both directions") {
  auto chain = model_chain("gpt_oss");
  CHECK(chain->ops.empty());
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
