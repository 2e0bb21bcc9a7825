// The public API on every registered model's tiny synthetic checkpoint, both directions:
// the map it leaves equals what the engine computes on its own dict; renamed tensors are the
// caller's tensors and split / unstacked ones views of them; the plan predicts the outputs;
// and a layer converted alone gives that layer of the whole-model result.
#include "api/api_support.h"
#include "aten/layout_dicts.h"
#include "aten/run.h"
#include "dsl/chain.h"
#include "layout/layout.h"
#include "registry/chain_registry.h"

using namespace api_test;

namespace {

const std::string kChains = CHAINCONV_SOURCE_DIR "/chains";

cc::TensorMap public_map(const chainconv::StateDict& sd) {
  cc::TensorMap map;
  for (const auto& [key, item] : sd) map.emplace(key, item.tensor);
  return map;
}

// Same keys, dtypes, shapes and values.
void require_equal(const cc::TensorMap& actual, const chainconv::StateDict& expected) {
  REQUIRE(keys_of(actual) == sorted(expected.keys()));
  for (const auto& [key, item] : expected) {
    INFO("key " << key);
    const at::Tensor& a = actual.at(key);
    REQUIRE(a.scalar_type() == item.tensor.scalar_type());
    REQUIRE(a.sizes() == item.tensor.sizes());
    REQUIRE(at::equal(a, item.tensor));
  }
}

struct Sharing {
  int same = 0;   // outputs that are their input tensor (moved)
  int views = 0;  // outputs that are views of their input
};

// What the plan says about each output holds for the tensors: the same tensor where every
// step was a move, a view of the source where one step made a view and the others moved it.
Sharing require_moves_and_views(const cc::Plan& plan, const cc::TensorMap& in,
                                const cc::TensorMap& out, const std::string& view_op) {
  Sharing seen;
  for (const cc::PlanEntry& entry : plan.entries) {
    INFO("key " << entry.key);
    const at::Tensor& t = out.at(entry.key);
    CHECK(t.sizes().vec() == entry.shape);
    CHECK(t.scalar_type() == entry.dtype);
    if (entry.sources.size() != 1) continue;
    const at::Tensor& source = in.at(entry.sources[0]);
    // Moves keep the tensor; a view-making op (and moves around it) makes a view of it.
    int moves = 0, views = 0;
    for (const cc::PlanStep& step : entry.steps) {
      moves += step.op == "rename" || step.op == "prefix_rename";
      views += step.op == view_op;
    }
    if (moves == static_cast<int>(entry.steps.size()) && moves > 0) {
      CHECK(t.is_same(source));
      ++seen.same;
    } else if (views == 1 && moves + views == static_cast<int>(entry.steps.size())) {
      CHECK(t.storage().is_alias_of(source.storage()));
      ++seen.views;
    }
  }
  return seen;
}

// The keys of layer 1 (".layers.1." under whatever the model's prefix is).
cc::TensorMap layer_one(const cc::TensorMap& sd) {
  cc::TensorMap layer;
  for (const auto& [key, t] : sd)
    if (key.find(".layers.1.") != std::string::npos) layer.emplace(key, t);
  return layer;
}

}  // namespace

TEST_CASE("every model converts in place through the public API in both directions") {
  const auto model_types = chainconv::ChainRegistry::scan(kChains).model_types();
  REQUIRE_FALSE(model_types.empty());
  int moved = 0, viewed = 0;  // the sharing checks are not vacuous
  for (const auto& [model_type, file] : model_types) {
    for (auto experts : {chainconv::ExpertLayout::per_expert, chainconv::ExpertLayout::fused}) {
      if (experts == chainconv::ExpertLayout::fused &&
          !chainconv::has_fused_layout(model_type, kChains))
        continue;
      INFO(model_type << (experts == chainconv::ExpertLayout::fused ? " (fused experts)" : ""));
      const auto layout =
          chainconv::make_layout(chainconv::tiny_config(model_type, kChains), experts, kChains);
      const chainconv::StateDict hf = chainconv::synthetic_state_dict(layout, 7);
      auto engine_chain = chainconv::load_chain_file(file);
      cc::Chain chain = cc::Chain::for_model_type(model_type, kChains);

      // HF -> prime.
      chainconv::StateDict engine_prime = hf;
      run_chain(*engine_chain, engine_prime, chainconv::Direction::to_prime);
      const cc::TensorMap hf_map = public_map(hf);
      cc::TensorMap prime = hf_map;
      const cc::Plan forward_plan = chain.plan(prime, cc::Direction::to_prime);
      chain.to_prime(prime);
      require_equal(prime, engine_prime);
      const Sharing forward = require_moves_and_views(forward_plan, hf_map, prime, "split");
      moved += forward.same;
      viewed += forward.views;

      // prime -> HF.
      chainconv::StateDict engine_hf = engine_prime;
      run_chain(*engine_chain, engine_hf, chainconv::Direction::to_hf);
      const cc::TensorMap prime_map = prime;
      cc::TensorMap back = prime;
      const cc::Plan backward_plan = chain.plan(back, cc::Direction::to_hf);
      chain.to_hf(back);
      require_equal(back, engine_hf);
      const Sharing backward = require_moves_and_views(backward_plan, prime_map, back, "stack");
      moved += backward.same;
      viewed += backward.views;

      // One layer alone gives that layer of the whole-model result.
      cc::TensorMap layer = layer_one(prime_map);
      REQUIRE_FALSE(layer.empty());
      chain.to_hf(layer);
      const cc::TensorMap expected = layer_one(back);
      REQUIRE(keys_of(layer) == keys_of(expected));
      for (const auto& [key, t] : expected) CHECK(at::equal(layer.at(key), t));
    }
  }
  CHECK(moved > 0);
  CHECK(viewed > 0);
}
