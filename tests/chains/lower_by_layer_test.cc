// Lowering a layer at a time (program/lower_by_layer.h) against lowering the whole key set:
// for every shipped chain, on every layout of its model types (tiny and full size, both
// expert layouts), both ways, the two programs make the same outputs from the same inputs by
// the same steps, whatever order the steps come in. Then which chains may be split, and
// that what lower() refuses, lower_by_layer refuses with the same words.
#include <map>
#include <set>

#include "chains/chain_support.h"
#include "core/text.h"
#include "program/lower.h"
#include "program/lower_by_layer.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// What makes a slot, written out down to the inputs: the same text in two programs means
// the same tensor made the same way, wherever the steps and slots are.
class Derivations {
 public:
  explicit Derivations(const Program& p) : p_(p), memo_(p.slots()) {}

  const std::string& of(uint32_t slot) {
    std::string& text = memo_[slot];
    if (!text.empty()) return text;
    const TensorDesc& d = p_.desc(slot);
    std::string desc = d.str() + " strides " + shape_str(d.strides) + " +" +
                       std::to_string(d.offset) + " expert dim " + std::to_string(d.expert_dim);
    if (slot < p_.inputs()) return text = "input " + p_.name(slot) + " " + desc;
    const Step& step = p_.step(static_cast<size_t>(p_.producer(slot)));
    std::string made = step_text(step);
    if (d.storage != slot) made += " viewing {" + of(d.storage) + "}";
    return text = p_.name(slot) + " " + desc + " = " + made;
  }

  std::string step_text(const Step& step) {
    std::string s = std::string(step_kind_name(step.kind)) + " by " + std::string(step.op->kind()) +
                    "@" + step.op->pos().str();
    s += " view " + std::to_string(static_cast<int>(step.view.kind)) + "/" +
         std::to_string(step.view.dim) + "/" + std::to_string(step.view.start) + "/" +
         std::to_string(step.view.length) + " dim " + std::to_string(step.dim);
    if (step.transform)
      s += " transform " + std::to_string(reinterpret_cast<uintptr_t>(step.transform));
    for (int64_t i : p_.integers(step)) s += " #" + std::to_string(i);
    s += " (";
    for (uint32_t k = 0; k < step.operands; ++k) s += "{" + of(p_.operand(step, k)) + "}";
    return s + ")";
  }

  // Every drop, as text: what was dropped, by which op.
  std::multiset<std::string> drops() {
    std::multiset<std::string> out;
    for (const Step& step : p_.steps())
      if (step.kind == StepKind::drop) out.insert(step_text(step));
    return out;
  }

 private:
  const Program& p_;
  std::vector<std::string> memo_;
};

void require_equivalent(const Program& whole, const Program& split) {
  REQUIRE(split.direction == whole.direction);
  REQUIRE(split.inputs() == whole.inputs());
  REQUIRE(split.slots() == whole.slots());
  REQUIRE(split.steps().size() == whole.steps().size());
  REQUIRE(split.outputs().size() == whole.outputs().size());
  Derivations a(whole), b(split);
  for (uint32_t s = 0; s < whole.inputs(); ++s) REQUIRE(b.of(s) == a.of(s));
  for (size_t i = 0; i < whole.outputs().size(); ++i)
    REQUIRE(b.of(split.outputs()[i]) == a.of(whole.outputs()[i]));
  REQUIRE(b.drops() == a.drops());
  REQUIRE(split.warnings().size() == whole.warnings().size());
}

// Lowers both ways on `specs`, checks the two agree, returns how the split one was made.
LayerLowering check_both(const Chain& chain, Direction d, const std::vector<TensorSpec>& specs,
                         Program* out = nullptr, const Options& options = {}) {
  std::vector<uint32_t> whole_order, split_order;
  Program whole = lower(chain, d, specs, options, &whole_order);
  LayerLowering how;
  Program split = lower_by_layer(chain, d, specs, options, &split_order, &how);
  require_equivalent(whole, split);
  REQUIRE(split_order == whole_order);
  if (out) *out = std::move(whole);
  return how;
}

struct ModelRun {
  std::string chain_file, model_type, config;
  ExpertLayout experts;
  LayerLowering forward, backward;
};

std::vector<ModelRun> every_model_both_ways() {
  std::vector<ModelRun> runs;
  for (const std::string target : {"prime", "torchtitan"}) {
    const ChainRegistry registry = ChainRegistry::scan({chains_dir()}, target);
    for (const auto& [model_type, file] : registry.model_types()) {
      const std::unique_ptr<Chain> chain = load_chain_file(file);
      for (const std::string config : {"tiny", "full"}) {
        const nlohmann::json json = config == "tiny" ? tiny_config(model_type, chains_dir())
                                                     : full_config(model_type, chains_dir());
        std::vector<ExpertLayout> layouts{ExpertLayout::per_expert};
        if (has_fused_layout(model_type, chains_dir())) layouts.push_back(ExpertLayout::fused);
        for (ExpertLayout experts : layouts) {
          INFO(file << " " << model_type << " " << config << " config, "
                    << (experts == ExpertLayout::fused ? "fused" : "per-expert") << " experts");
          const Layout layout = make_layout(json, experts, chains_dir());
          ModelRun run{file, model_type, config, experts, {}, {}};
          Options options;
          options.config = json.dump();
          Program forward;
          run.forward = check_both(*chain, Direction::to_prime, layout.tensors, &forward, options);
          run.backward =
              check_both(*chain, Direction::to_hf, output_specs(forward), nullptr, options);
          runs.push_back(std::move(run));
        }
      }
    }
  }
  return runs;
}

std::unique_ptr<Chain> chain_of(const std::string& ops) {
  return load_chain_string("version: 1\nmodel_types: [t]\ndescription: d\nops:\n" + ops);
}

TensorSpec spec(std::string key, Dims shape = {2, 3}) {
  return {std::move(key), std::move(shape), &dtype_named("BF16")};
}

// `layers` MoE layers of `experts` experts (gate and up projections), plus two keys
// outside any layer.
std::vector<TensorSpec> moe_keys(int layers, int experts) {
  std::vector<TensorSpec> keys{spec("model.embed_tokens.weight"), spec("lm_head.weight")};
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    keys.push_back(spec(p + "input_layernorm.weight", {3}));
    for (int e = 0; e < experts; ++e)
      for (const char* proj : {"gate_proj", "up_proj"})
        keys.push_back(spec(p + "mlp.experts." + std::to_string(e) + "." + proj + ".weight"));
  }
  return keys;
}

// Each chain of `ops`: whether it may be lowered a layer at a time (both ways, where it may),
// and four layers lowered so.
void check_chains(std::initializer_list<const char*> ops_list, bool separable) {
  for (const char* ops : ops_list) {
    INFO(ops);
    auto chain = chain_of(ops);
    CHECK(chain->layer_separable[0] == separable);
    if (separable) CHECK(chain->layer_separable[1]);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(4, 2)).whole == !separable);
  }
}

const char* kStackExperts = R"(
  - stack: {from: "model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight", to: "model.layers.{layer}.mlp.w1"}
  - stack: {from: "model.layers.{layer}.mlp.experts.{expert}.up_proj.weight", to: "model.layers.{layer}.mlp.w3"}
  - rename: {from: "model.layers.{layer}.input_layernorm.weight", to: "layers.{layer}.norm"}
  - rename: {from: "lm_head.weight", to: "output.weight"}
)";

}  // namespace

TEST_CASE("every shipped chain lowers a layer at a time to the program lowering whole makes") {
  const std::vector<ModelRun> runs = every_model_both_ways();
  REQUIRE(runs.size() > 30);
  std::map<std::string, std::pair<size_t, size_t>> split;  // model type: (ways split, ways run)
  for (const ModelRun& run : runs)
    for (const LayerLowering* how : {&run.forward, &run.backward}) {
      split[run.model_type].second++;
      if (!how->whole) {
        split[run.model_type].first++;
        REQUIRE(how->lowerings <= how->layers);  // some kind repeats (the outside is one more)
      }
    }
  // Qwen3-30B-A3B at full size: 48 layers alike and the keys outside, both ways.
  for (const ModelRun& run : runs)
    if (run.model_type == "qwen3_moe" && run.config == "full" &&
        run.chain_file.find("torchtitan") == std::string::npos &&
        run.experts == ExpertLayout::per_expert) {
      CHECK(!run.forward.whole);
      CHECK(run.forward.layers == 48);
      CHECK(run.forward.lowerings == 2);
      CHECK(!run.backward.whole);
      CHECK(run.backward.lowerings == 2);
    }
  for (const auto& [model_type, counts] : split)
    UNSCOPED_INFO(model_type << ": split " << counts.first << " of " << counts.second);
  for (const ModelRun& run : runs)
    if (run.forward.whole || run.backward.whole)
      UNSCOPED_INFO("lowered whole: " << run.chain_file << " " << run.model_type << " "
                                      << run.config << (run.forward.whole ? " forward" : "")
                                      << (run.backward.whole ? " backward" : ""));
  CHECK(split["qwen3_moe"].first > 0);
  CHECK(split["mixtral"].first > 0);
  CHECK(split["nemotron_h"].first > 0);
}

TEST_CASE("a key set is lowered a layer at a time only where the chain allows it") {
  SECTION("ops on each layer's own keys, and on keys outside layers: split") {
    auto chain = chain_of(kStackExperts);
    CHECK(chain->layer_separable[0]);
    CHECK(chain->layer_separable[1]);
    const LayerLowering how = check_both(*chain, Direction::to_prime, moe_keys(5, 3));
    CHECK(!how.whole);
    CHECK(how.layers == 5);
    CHECK(how.lowerings == 2);
  }
  SECTION("layers of different kinds are lowered once per kind") {
    auto chain = chain_of(kStackExperts);
    std::vector<TensorSpec> keys = moe_keys(4, 3);
    for (const TensorSpec& s : moe_keys(6, 2))  // layers 4 and 5 with two experts
      if (s.key.find("layers.4.") != std::string::npos ||
          s.key.find("layers.5.") != std::string::npos)
        keys.push_back(s);
    keys.push_back(spec("model.layers.2.extra.weight"));  // layer 2 unlike the others
    keys.push_back(spec("model.layers.10.mlp.experts.0.gate_proj.weight", {4, 4}));  // other shape
    const LayerLowering how = check_both(*chain, Direction::to_prime, keys);
    CHECK(!how.whole);
    CHECK(how.layers == 7);
    CHECK(how.lowerings == 5);  // the outside, layers 0/1/3, layer 2, layers 4/5, layer 10
  }
  SECTION("layers whose outputs sort in another order than their inputs") {
    auto chain = chain_of(R"(
  - rename: {from: "a.layers.{layer}.k", to: "c.layers.{layer}.k"}
  - rename: {from: "b.layers.{layer}.k", to: "c.layers.{layer}.k"}
)");
    // Layers 5 and 7 come first (under a.), layer 3 after them (under b.); all end under c.
    const LayerLowering how =
        check_both(*chain, Direction::to_prime,
                   {spec("a.layers.5.k"), spec("a.layers.7.k"), spec("b.layers.3.k"),
                    spec("b.layers.4.k"), spec("a.norm"), spec("c.norm"), spec("d.norm")});
    CHECK(!how.whole);
    CHECK(how.lowerings == 3);
  }
  SECTION("more kinds of layer than any model has: lowered whole") {
    auto chain = chain_of(kStackExperts);
    std::vector<TensorSpec> keys = moe_keys(40, 2);
    for (int l = 0; l < 40; l += 2)  // 20 kinds, two layers each
      keys.push_back(
          spec("model.layers." + std::to_string(l) + ".extra" + std::to_string(l) + ".weight"));
    for (int l = 1; l < 40; l += 2)
      keys.push_back(
          spec("model.layers." + std::to_string(l) + ".extra" + std::to_string(l - 1) + ".weight"));
    CHECK(check_both(*chain, Direction::to_prime, keys).whole);
    keys.resize(keys.size() - 25);  // 15 layers each a kind of its own, 25 alike: 16 kinds
    const LayerLowering how = check_both(*chain, Direction::to_prime, keys);
    CHECK(!how.whole);
    CHECK(how.lowerings == 1 + 15 + 1);
  }
  SECTION("one layer, or none alike: lowered whole") {
    auto chain = chain_of(kStackExperts);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(1, 3)).whole);
  }
  SECTION("a stack over layers reads the layer's number: never split") {
    auto chain = chain_of(R"(
  - stack: {from: "model.layers.{layer}.input_layernorm.weight", to: "model.norms", index: layer, offset: none}
)");
    CHECK(!chain->layer_separable[0]);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(3, 2)).whole);
  }
  SECTION("a renumbering reads the layer's number: never split") {
    auto chain = chain_of(R"(
  - renumber: {from: "model.layers.{layer}.", to: "mtp.layers.{layer}.", start: 2}
)");
    CHECK(!chain->layer_separable[0]);
    CHECK(!chain->layer_separable[1]);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(4, 2)).whole);
  }
  SECTION("a test on a key outside layers deciding for layers: never split") {
    auto chain = chain_of(R"(
  - if: {present: "lm_head.weight"}
    then:
      - rename: {from: "model.layers.{layer}.input_layernorm.weight", to: "model.layers.{layer}.norm"}
)");
    CHECK(!chain->layer_separable[0]);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(3, 2)).whole);
  }
  SECTION("a test deciding per expert across layers: never split") {
    auto chain = chain_of(R"(
  - if: {present: "model.layers.{layer}.mlp.experts.{expert}.up_proj.weight"}
    for_each: [expert]
    then:
      - drop: {keys: "model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight"}
)");
    CHECK(!chain->layer_separable[0]);
  }
  SECTION("a test deciding per layer: split") {
    auto chain = chain_of(R"(
  - if: {present: "model.layers.{layer}.mlp.experts.0.up_proj.weight"}
    then:
      - drop: {keys: "model.layers.{layer}.input_layernorm.weight"}
)");
    CHECK(chain->layer_separable[0]);
    CHECK(!check_both(*chain, Direction::to_prime, moe_keys(3, 2)).whole);
  }
  SECTION("templates that may name keys in layers and outside them: never split") {
    check_chains({R"(
  - rename: {from: "{p:path}.input_layernorm.weight", to: "{p:path}.norm"}
)",
                  R"(
  - prefix_rename: {from: "model.", to: "model.layers."}
)",
                  R"(
  - rename: {from: "model.{part:segment}.{n}.input_layernorm.weight", to: "model.{part:segment}.{n}.norm"}
)",
                  R"(
  - rename: {from: "model.layers.3.input_layernorm.weight", to: "model.layers.3.norm"}
)"},
                 false);
  }
  SECTION("a prefix naming the layer, or one before any layer: split") {
    check_chains({R"(
  - prefix_rename: {from: "model.layers.{layer}.", to: "layers.{layer}."}
)",
                  R"(
  - prefix_rename: {from: "model.", to: "m."}
  - drop: {prefix: "m.embed_tokens."}
  - stack: {from: "m.layers.{layer}.mlp.experts.{expert}.gate_proj.weight", to: "m.layers.{layer}.mlp.w1"}
)"},
                 true);
  }
  SECTION("a prefix rename that moves keys out of their layer: never split") {
    auto chain = chain_of(R"(
  - prefix_rename: {from: "model.layers.{layer}.", to: "blocks.{layer}."}
)");
    CHECK(!chain->layer_separable[0]);
    CHECK(check_both(*chain, Direction::to_prime, moe_keys(4, 2)).whole);
  }
}

TEST_CASE("what lowering whole refuses, lowering a layer at a time refuses in the same words") {
  auto chain = chain_of(kStackExperts);
  std::vector<TensorSpec> keys = moe_keys(4, 3);
  keys.erase(std::find_if(keys.begin(), keys.end(), [](const TensorSpec& s) {
    return s.key == "model.layers.2.mlp.experts.1.up_proj.weight";
  }));
  std::string whole, split;
  try {
    lower(*chain, Direction::to_prime, keys);
  } catch (const Error& e) {
    whole = e.what();
  }
  try {
    lower_by_layer(*chain, Direction::to_prime, keys);
  } catch (const Error& e) {
    split = e.what();
  }
  REQUIRE(whole.find("model.layers.2.mlp.experts.1.up_proj.weight") != std::string::npos);
  CHECK(split == whole);

  keys = moe_keys(3, 2);
  keys.push_back(keys.back());  // a key twice
  CHECK_THROWS_WITH(lower_by_layer(*chain, Direction::to_prime, keys),
                    "key '" + keys.back().key + "' appears twice");
}
