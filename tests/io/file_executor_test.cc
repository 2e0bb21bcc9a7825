// The file executor: a step program played on byte runs finds where every output's bytes lie
// in the inputs. The check is independent of it: lay the inputs out in a buffer, gather
// each output's bytes from its runs, and compare with the chain run on the real values by
// the ATen executor.
#include "io/file_executor.h"

#include "dsl/chain.h"
#include "io/convert.h"
#include "io_support.h"
#include "program/lineage.h"
#include "program/lower.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

struct Traced {
  Program program;
  std::vector<OutputBytes> bytes;  // by output
  StateDict real;                  // the chain's output on real values
  std::string buffer;              // the inputs laid out one after another, "file" 0

  const OutputBytes& of(const std::string& key) const {
    for (size_t k = 0; k < program.outputs().size(); ++k)
      if (program.name(program.outputs()[k]) == key) return bytes[k];
    FAIL("no output " << key);
    return bytes.front();
  }
};

Traced trace(const Chain& chain, const StateDict& inputs, Direction direction,
             Options options = {}) {
  Traced t;
  t.program = lower(chain, direction, specs_of(inputs), options);
  std::vector<ByteRun> locations;
  for (const auto& [key, item] : inputs) {  // the dict's order is the program's input order
    std::string bytes = bytes_of(item.tensor);
    locations.push_back(ByteRun{0, t.buffer.size(), bytes.size()});
    t.buffer += bytes;
  }
  t.bytes = output_bytes(t.program, locations);
  t.real = clone(inputs);
  run_chain(chain, t.real, direction, options);
  return t;
}

std::string gather(const ByteRuns& runs, const std::string& buffer) {
  std::string out;
  for (const ByteRun& r : runs.runs()) {
    REQUIRE(r.source == 0);
    out += buffer.substr(r.offset, r.length);
  }
  return out;
}

// Every output resolves to runs whose bytes are exactly the real output's.
void require_runs_match(const Traced& t) {
  REQUIRE(t.program.outputs().size() == t.real.size());
  for (size_t k = 0; k < t.bytes.size(); ++k) {
    const std::string& key = t.program.name(t.program.outputs()[k]);
    INFO(key);
    REQUIRE(t.bytes[k].from == OutputBytes::From::runs);
    CHECK(gather(t.bytes[k].runs, t.buffer) == bytes_of(t.real.at(key)));
  }
}

}  // namespace

TEST_CASE("layer groups are the prefix through the numeric segment after layers") {
  CHECK(layer_group_of("model.layers.3.mlp.experts.7.up_proj.weight") == "model.layers.3.");
  CHECK(layer_group_of("backbone.layers.12.mixer.A_log") == "backbone.layers.12.");
  CHECK(layer_group_of("model.language_model.layers.0.mlp.gate.weight") ==
        "model.language_model.layers.0.");
  CHECK(layer_group_of("mtp.layers.0.eh_proj.weight") == "mtp.layers.0.");
  CHECK(layer_group_of("model.embed_tokens.weight") == "");
  CHECK(layer_group_of("model.visual.blocks.3.attn.qkv.weight") == "");
  CHECK(layer_group_of("model.layers.x.weight") == "");
  CHECK(layer_group_of("model.layers.3") == "");
  CHECK(layer_group_of("model.mylayers.3.w") == "");
}

TEST_CASE("byte runs merge adjacent pieces and slice across them") {
  ByteRuns runs;
  runs.append({0, 100, 10});
  runs.append({0, 110, 5});  // adjacent: merged
  runs.append({1, 0, 20});
  REQUIRE(runs.runs().size() == 2);
  CHECK(runs.size() == 35);
  ByteRuns s = runs.slice(12, 20);
  REQUIRE(s.runs().size() == 2);
  CHECK(s.runs()[0].source == 0);
  CHECK(s.runs()[0].offset == 112);
  CHECK(s.runs()[0].length == 3);
  CHECK(s.runs()[1].source == 1);
  CHECK(s.runs()[1].offset == 0);
  CHECK(s.runs()[1].length == 5);
  CHECK(runs.slice(7, 7).size() == 0);
}

TEST_CASE("a narrowed view covers one block per outer index") {
  // [2, 6, 4] narrowed to rows 2..4 of dim 1: for each of the 2 outer rows, 3*4 contiguous
  // elements.
  at::Tensor base = at::zeros({2, 6, 4});
  at::Tensor view = base.narrow(1, 2, 3);
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  for_each_view_block(view.sizes().vec(), view.strides().vec(), view.storage_offset(), 4,
                      [&](uint64_t b, uint64_t n) { blocks.emplace_back(b, n); });
  REQUIRE(blocks.size() == 2);
  CHECK(blocks[0] == std::make_pair<uint64_t, uint64_t>(2 * 4 * 4, 12 * 4));
  CHECK(blocks[1] == std::make_pair<uint64_t, uint64_t>((24 + 8) * 4, 12 * 4));
}

TEST_CASE("stacked per-expert tensors resolve to runs of their inputs") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  Traced t = trace(*chain, qwen3_moe_dict(1, 4), Direction::to_prime);
  require_runs_match(t);
  for (uint32_t slot : t.program.outputs()) {
    if (t.program.name(slot) != "model.layers.0.mlp.experts.w1") continue;
    const Lineage lineage = lineage_of(t.program, slot);
    CHECK(lineage.sources.size() == 4);
    const std::vector<const Op*> ops = ops_of(t.program, lineage.steps);
    REQUIRE(ops.size() == 1);
    CHECK(ops.back()->kind() == "stack");
    // Four experts of [I, H] each, one after another: four runs of the buffer.
    CHECK(t.of("model.layers.0.mlp.experts.w1").runs.runs().size() == 4);
  }
}

TEST_CASE("the halves of a fused gate_up_proj resolve to one run per expert") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  StateDict hf{{"model.layers.0.mlp.experts.gate_up_proj", counting({3, 8, 5})},
               {"model.layers.0.mlp.experts.down_proj", counting({3, 5, 4}, 1000)}};
  Traced t = trace(*chain, hf, Direction::to_prime);
  require_runs_match(t);
  CHECK(t.of("model.layers.0.mlp.experts.w3").runs.runs().size() == 3);
}

TEST_CASE("unstacking back to HF resolves to slices of the stacked tensor") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  StateDict prime{{"model.layers.2.mlp.experts.w1", counting({4, 3, 5})},
                  {"model.layers.2.mlp.experts.w2", counting({4, 5, 3}, 100)},
                  {"model.layers.2.mlp.experts.w3", counting({4, 3, 5}, 200)}};
  Options shard;
  shard.expert_offset = 8;
  Traced t = trace(*chain, prime, Direction::to_hf, shard);
  require_runs_match(t);
  CHECK(t.real.contains("model.layers.2.mlp.experts.11.up_proj.weight"));
}

TEST_CASE("a synthetic tensor is zeros, not runs") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: synthetic
ops:
  - synthetic: {key: "e.w3", like: "e.w1", shape: [2, 3]}
)");
  Traced t = trace(*chain, StateDict{{"e.w1", counting({4})}}, Direction::to_prime);
  CHECK(t.of("e.w3").from == OutputBytes::From::zeros);
}

TEST_CASE("stacks and concatenations along an inner dim interleave their inputs") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: inner-dim stack and split
ops:
  - stack: {from: "a.{expert}.w", to: "a.stacked", dim: 1}
  - split: {from: "b.fused", into: ["b.first", "b.second"], dim: 1, sizes: [2, 3]}
)");
  // The dims are chosen equal where they could be confused (3 experts of [3, 3]).
  StateDict hf{{"a.0.w", counting({3, 3})},
               {"a.1.w", counting({3, 3}, 10)},
               {"a.2.w", counting({3, 3}, 20)},
               {"b.fused", counting({2, 5, 2}, 50)}};
  Traced forward = trace(*chain, hf, Direction::to_prime);
  require_runs_match(forward);
  StateDict prime = clone(forward.real);
  Traced backward = trace(*chain, prime, Direction::to_hf);
  require_runs_match(backward);  // b.fused rebuilt by concatenating along dim 1
}

TEST_CASE("a value transform marks its output as computed") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: a value transform after a rename
ops:
  - rename: {from: "x.bias", to: "y.bias"}
  - map: {key: "y.bias", forward: subtract_min, backward: identity, lossy: "the shift is not undone"}
)");
  StateDict hf{{"x.bias", counting({4}, 5)}, {"x.other", counting({2})}};
  Traced t = trace(*chain, hf, Direction::to_prime);
  CHECK(t.of("y.bias").from == OutputBytes::From::computed);
  CHECK(t.of("x.other").from == OutputBytes::From::runs);
}

TEST_CASE("dropped inputs are a drop step of the op that dropped them") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: drop
ops:
  - drop: {prefix: "mtp.", when: to_prime}
)");
  Traced t = trace(*chain, StateDict{{"mtp.w", counting({2})}, {"keep", counting({2})}},
                   Direction::to_prime);
  REQUIRE(t.program.steps().size() == 1);
  const Step& drop = t.program.step(0);
  CHECK(drop.kind == StepKind::drop);
  CHECK(drop.op->kind() == "drop");
  CHECK(t.program.name(t.program.operand(drop, 0)) == "mtp.w");
  REQUIRE(t.program.outputs().size() == 1);
}

TEST_CASE("reshapes, permutes and their copies resolve to runs through the strides") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: shape ops
ops:
  - permute: {key: "a", dims: [1, 2, 0]}
  - reshape: {key: "a", from: [5, 7, 3], to: [-1, 3]}
  - rope_permute: {key: "q", heads: 3, head_dim: 4}
  - concat: {from: ["b", "c"], to: "bc", dim: 1}
  - transpose: {key: "bc", dims: [0, 1]}
)");
  StateDict hf{{"a", counting({3, 5, 7})},
               {"q", counting({12, 5}, 100)},
               {"b", counting({2, 3}, 200)},
               {"c", counting({2, 3}, 300)}};
  Traced forward = trace(*chain, hf, Direction::to_prime);
  require_runs_match(forward);
  // q's rows are whole runs, HF rows 0,2,1,3, 4,6,5,7, 8,10,9,11: rows 3 and 4 (and 7 and 8)
  // are adjacent in the file, so 12 rows make 10 runs.
  CHECK(forward.of("q").runs.runs().size() == 10);
  StateDict prime = clone(forward.real);
  Traced backward = trace(*chain, prime, Direction::to_hf);
  require_runs_match(backward);
}

TEST_CASE("a large permute of the innermost dim is gathered by ATen, not copied per element") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: transpose
ops:
  - transpose: {key: "{name:segment}", dims: [0, 1]}
)");
  StateDict hf{{"w", counting({64, 64})}, {"small", counting({4, 4})}};
  Traced t = trace(*chain, hf, Direction::to_prime);
  CHECK(t.of("w").from == OutputBytes::From::computed);
  CHECK(t.of("small").from == OutputBytes::From::runs);
}
