// Every model with a chain and a layout: its tiny synthetic HF checkpoint converts to prime
// and back, verified byte for byte each way (declared lossy steps reported, not failed).
#include "aten/layout_dicts.h"
#include "io/checkpoint.h"
#include "io/convert.h"
#include "io_support.h"
#include "layout/layout.h"
#include "registry/chain_registry.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

void write_synthetic(const std::string& dir, const std::string& model_type, ExpertLayout experts) {
  nlohmann::json config = tiny_config(model_type);
  StateDict sd = synthetic_state_dict(make_layout(config, experts), /*seed=*/7);
  fs::create_directories(dir);
  write_text(dir + "/config.json", config.dump(2));
  write_state_dict(dir, sd, /*max_shard_size=*/4000);  // several shards, to exercise the index
}

}  // namespace

TEST_CASE("every model's tiny synthetic checkpoint converts both ways and verifies") {
  ChainRegistry registry = ChainRegistry::scan();
  REQUIRE(registry.model_types().size() >= 9);
  for (const auto& [model_type, chain_file] : registry.model_types()) {
    std::vector<ExpertLayout> layouts = {ExpertLayout::per_expert};
    if (has_fused_layout(model_type)) layouts.push_back(ExpertLayout::fused);
    for (ExpertLayout experts : layouts) {
      const std::string name =
          model_type + (experts == ExpertLayout::fused ? " (fused)" : " (per expert)");
      INFO(name);
      Scratch s;
      write_synthetic(s / "hf", model_type, experts);
      ConvertOptions forward;
      forward.direction = Direction::to_prime;
      forward.verify = true;
      ConvertResult to_prime = convert_checkpoint(s / "hf", s / "prime", forward);
      REQUIRE(to_prime.verify->ok());
      // Every MoE model stacks (or already stores stacked) experts; gpt_oss's chain is identity.
      if (model_type == "gpt_oss")
        CHECK(to_prime.summary.of(Made::unchanged) == Checkpoint::open(s / "hf").tensors().size());
      else if (experts == ExpertLayout::per_expert)
        CHECK(to_prime.summary.of(Made::stacked) > 0);

      ConvertOptions backward;
      backward.direction = Direction::to_hf;
      backward.verify = true;
      ConvertResult to_hf = convert_checkpoint(s / "prime", s / "back", backward);
      REQUIRE(to_hf.verify->ok());
      // Back in HF, per-expert keys again (the canonical layout).
      for (const TensorSpec& t : read_checkpoint_layout(s / "back"))
        CHECK(t.key.find("experts.w1") == std::string::npos);
    }
  }
}
