// Replay plans on every model chain: a plan compiled on meta tensors of a key set, replayed
// on real values, gives exactly what running the chain gives (whose results the per-model
// tests check against MODELS.md), both ways, for the whole dict, one layer group at a time,
// and for fused HF experts.
#include "chains/chain_support.h"
#include "io/trace.h"
#include "replay/replay_plan.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

StateDict meta_of(const StateDict& dict) {
  StateDict out;
  for (const auto& [key, item] : dict)
    out.insert(key,
               Item{meta(item.tensor.sizes().vec(), item.tensor.scalar_type()), item.opaque_dtype});
  return out;
}

// The plan compiled on `input`'s metadata, replayed on a copy of its values; both forms.
void require_replay_matches_run(const Chain& chain, const StateDict& input, Direction direction,
                                const RunOptions& options = {}) {
  std::vector<Warning> warnings;
  const StateDict expected = convert(chain, input, direction, options, &warnings);
  const ReplayPlan plan = ReplayPlan::compile(chain, direction, meta_of(input), options);
  CHECK(plan.warnings().size() == warnings.size());

  StateDict replayed = clone(input);
  plan.replay(replayed);
  require_identical(replayed, expected);

  std::vector<Item> flat;
  for (const auto& [key, item] : clone(input)) flat.push_back(item);
  std::vector<Item> outputs = plan.replay(std::move(flat));
  StateDict from_flat;
  for (size_t i = 0; i < outputs.size(); ++i)
    from_flat.insert(plan.output_keys()[i], std::move(outputs[i]));
  require_identical(from_flat, expected);
}

void check_model(const std::string& model_type) {
  auto chain = model_chain(model_type);
  const StateDict hf = tiny_hf(model_type);
  const StateDict prime = convert(*chain, hf, Direction::to_prime);
  require_replay_matches_run(*chain, hf, Direction::to_prime);
  require_replay_matches_run(*chain, prime, Direction::to_hf);

  // One layer group at a time, as chainconv convert and a streaming trainer call it.
  for (const StateDict* dict : {&hf, &prime}) {
    std::map<std::string, StateDict> groups;
    for (const auto& [key, item] : *dict) groups[layer_group_of(key)].insert(key, item);
    for (const auto& [name, group] : groups) {
      INFO("layer group " << name);
      require_replay_matches_run(*chain, group,
                                 dict == &hf ? Direction::to_prime : Direction::to_hf);
    }
  }

  if (has_fused_layout(model_type, chains_dir()))
    require_replay_matches_run(*chain, tiny_hf(model_type, ExpertLayout::fused),
                               Direction::to_prime);
}

}  // namespace

TEST_CASE("replay matches the run: qwen3_moe") { check_model("qwen3_moe"); }
TEST_CASE("replay matches the run: qwen3_5_moe") { check_model("qwen3_5_moe"); }
TEST_CASE("replay matches the run: glm4_moe") { check_model("glm4_moe"); }
TEST_CASE("replay matches the run: glm_moe_dsa") { check_model("glm_moe_dsa"); }
TEST_CASE("replay matches the run: minimax_m2") { check_model("minimax_m2"); }
TEST_CASE("replay matches the run: laguna") { check_model("laguna"); }
TEST_CASE("replay matches the run: afmoe") { check_model("afmoe"); }
TEST_CASE("replay matches the run: nemotron_h") { check_model("nemotron_h"); }
TEST_CASE("replay matches the run: gpt_oss") { check_model("gpt_oss"); }

TEST_CASE("replay matches the run on an expert-parallel shard") {
  auto chain = model_chain("qwen3_moe");
  RunOptions shard;
  shard.expert_offset = 2;
  // Experts 2 and 3 of the tiny model's four, with everything else.
  const StateDict hf = subset(tiny_hf("qwen3_moe"), [](const std::string& key) {
    return key.find(".experts.0.") == std::string::npos &&
           key.find(".experts.1.") == std::string::npos;
  });
  require_replay_matches_run(*chain, hf, Direction::to_prime, shard);
  require_replay_matches_run(*chain, convert(*chain, hf, Direction::to_prime, shard),
                             Direction::to_hf, shard);
}
