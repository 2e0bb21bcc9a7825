// Step programs on every model chain: a program lowered on the descriptions of a meta key
// set, replayed on real values, gives exactly what running the chain gives (whose results
// the per-model tests check against docs/MODELS.md), both ways, for the whole dict, one layer
// group at a time, and for fused HF experts.
#include "aten/execute.h"
#include "chains/chain_support.h"
#include "io/convert.h"
#include "program/lower.h"

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
                                const Options& options = {}) {
  std::vector<Warning> warnings;
  const StateDict expected = convert(chain, input, direction, options, &warnings);
  const Program plan = lower(chain, direction, specs_of(meta_of(input)), options);
  CHECK(plan.warnings().size() == warnings.size());

  StateDict replayed = clone(input);
  run_program(plan, replayed);
  require_identical(replayed, expected);

  std::vector<at::Tensor> flat;
  for (const auto& [key, item] : clone(input)) flat.push_back(item.tensor);
  std::vector<at::Tensor> outputs = execute(plan, std::move(flat));
  StateDict from_flat;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const uint32_t slot = plan.outputs()[i];
    const DtypeInfo& dtype = *plan.desc(slot).dtype;
    from_flat.insert(plan.name(slot),
                     Item{std::move(outputs[i]), dtype.opaque() ? std::string(dtype.name) : ""});
  }
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

TEST_CASE("a program replays the run: qwen3_moe") { check_model("qwen3_moe"); }
TEST_CASE("a program replays the run: qwen3_5_moe") { check_model("qwen3_5_moe"); }
TEST_CASE("a program replays the run: glm4_moe") { check_model("glm4_moe"); }
TEST_CASE("a program replays the run: glm_moe_dsa") { check_model("glm_moe_dsa"); }
TEST_CASE("a program replays the run: minimax_m2") { check_model("minimax_m2"); }
TEST_CASE("a program replays the run: laguna") { check_model("laguna"); }
TEST_CASE("a program replays the run: afmoe") { check_model("afmoe"); }
TEST_CASE("a program replays the run: nemotron_h") { check_model("nemotron_h"); }
TEST_CASE("a program replays the run: mixtral") { check_model("mixtral"); }
TEST_CASE("a program replays the run: qwen2_moe") { check_model("qwen2_moe"); }
TEST_CASE("a program replays the run: olmoe") { check_model("olmoe"); }
TEST_CASE("a program replays the run: deepseek_v3") { check_model("deepseek_v3"); }
TEST_CASE("a program replays the run: gpt_oss") { check_model("gpt_oss"); }

TEST_CASE("a program replays the run on an expert-parallel shard") {
  auto chain = model_chain("qwen3_moe");
  Options shard;
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
