// The checks that run a chain on a layout of meta tensors: the symbolic roundtrip (declared
// lossy and canonicalising steps are notes, anything else an error at the op responsible)
// and coverage.
#include "check/symbolic.h"
#include "check/lint.h"
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

const std::string kHead = "version: 1\nmodel_types: [test]\ndescription: test chain\n";

// Qwen3-MoE's HF layout per MODELS.md: per layer a router gate [E, H] and per expert
// gate/up [I, H], down [H, I]; or, fused (transformers v5), gate_up_proj [E, 2I, H] and
// down_proj [E, H, I].
StateDict qwen3_moe_layout(bool fused) {
  const int L = 2, E = 4, I = 8, H = 16;
  StateDict hf;
  hf.insert("model.embed_tokens.weight", meta({32, H}));
  for (int l = 0; l < L; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    hf.insert(p + "gate.weight", meta({E, H}));
    if (fused) {
      hf.insert(p + "experts.gate_up_proj", meta({E, 2 * I, H}));
      hf.insert(p + "experts.down_proj", meta({E, H, I}));
      continue;
    }
    for (int e = 0; e < E; ++e) {
      std::string x = p + "experts." + std::to_string(e) + ".";
      hf.insert(x + "gate_proj.weight", meta({I, H}));
      hf.insert(x + "down_proj.weight", meta({H, I}));
      hf.insert(x + "up_proj.weight", meta({I, H}));
    }
  }
  return hf;
}

std::vector<Finding> roundtrip(const Chain& chain, const StateDict& hf) {
  return symbolic_roundtrip(chain, specs_of(hf));
}

std::vector<Finding> coverage(const Chain& chain, const StateDict& hf) {
  return check_coverage(chain, specs_of(hf));
}

std::vector<std::string> lines(const std::vector<Finding>& findings, Severity severity) {
  std::vector<std::string> out;
  for (const Finding& f : findings)
    if (f.severity == severity)
      out.push_back(std::to_string(f.pos.line) + ":" + std::to_string(f.pos.col) + ": " +
                    f.message);
  return out;
}

}  // namespace

TEST_CASE("qwen3_moe roundtrips both ways on a per-expert layout with nothing to report") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  auto findings = roundtrip(*chain, qwen3_moe_layout(false));
  CHECK(findings.empty());
}

TEST_CASE("the fused expert layout comes back per-expert and is reported as canonicalising") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  auto findings = roundtrip(*chain, qwen3_moe_layout(true));
  CHECK(lines(findings, Severity::error).empty());
  CHECK(lines(findings, Severity::warning).empty());
  auto notes = lines(findings, Severity::note);
  REQUIRE(!notes.empty());
  bool gate_up = false, per_expert = false;
  for (const std::string& n : notes) {
    CHECK_THAT(n, Catch::Contains("canonicalising"));
    gate_up |=
        n.find("model.layers.{0..1}.mlp.experts.gate_up_proj' not restored") != std::string::npos;
    per_expert |= n.find("appear instead") != std::string::npos;
  }
  CHECK(gate_up);
  CHECK(per_expert);
}

TEST_CASE("a conditional that dispatches only forward is an error at the op that is never undone") {
  auto chain = chain_from(kHead + R"(ops:
  - if: {present: "a.{layer}.x"}
    then:
      - rename: {from: "a.{layer}.x", to: "b.{layer}.x"}
)");
  StateDict hf{{"a.0.x", meta({2})}, {"a.1.x", meta({2})}};
  auto errors = lines(roundtrip(*chain, hf), Severity::error);
  // Backward tests a.{layer}.x on the prime dict, finds nothing, and leaves b.*.x in place.
  CHECK(errors == std::vector<std::string>{"7:9: HF -> prime -> HF: 2 keys 'a.{0..1}.x' not "
                                           "restored: consumed by this rename, never written back",
                                           "7:9: HF -> prime -> HF: 2 keys 'b.{0..1}.x' written by "
                                           "this rename are never taken back"});
}

TEST_CASE("a drop is declared lossy and reported as a note") {
  auto chain = chain_from(kHead + "ops:\n  - drop: {prefix: \"mtp.\"}\n");
  StateDict hf{{"mtp.w", meta({2})}, {"model.w", meta({2})}};
  auto findings = roundtrip(*chain, hf);
  CHECK(lines(findings, Severity::error).empty());
  CHECK(lines(findings, Severity::note) ==
        std::vector<std::string>{"5:5: HF -> prime -> HF: 'mtp.w' not restored (declared lossy: "
                                 "dropped keys are not restored)"});
}

TEST_CASE("an op that fails on the layout is an error at that op") {
  auto chain = chain_from(kHead + "ops:\n  - stack: {from: \"e.{expert}.w\", to: e.w}\n");
  StateDict hf{{"e.0.w", meta({2})}, {"e.1.w", meta({2})}, {"e.3.w", meta({2})}};
  auto errors = lines(roundtrip(*chain, hf), Severity::error);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("5:5: HF -> prime fails on the layout:") &&
                            Catch::Contains("key 'e.2.w' is missing"));
}

TEST_CASE("coverage warns about an op that never fires and keys left unconverted") {
  auto chain = chain_from(kHead + R"(expect_converted: ["m.layers.{layer}.experts.{expert}.w"]
ops:
  - rename: {from: "m.layers.{layer}.norm.weight", to: "m.layers.{layer}.ln.weight"}
  - rename: {from: "m.layers.{layer}.nrom.weight", to: "m.layers.{layer}.ln2.weight"}
  - map: {key: "m.layers.{layer}.bias", forward: negate, backward: negate}
  - stack: {from: "m.layers.{layer}.experts.{expert}.v", to: "m.layers.{layer}.v"}
)");
  StateDict hf{{"m.layers.0.norm.weight", meta({4})},
               {"m.layers.0.bias", meta({4})},
               {"m.layers.0.experts.0.v", meta({4})},
               {"m.layers.0.experts.0.w", meta({4})},
               {"m.layers.0.experts.1.w", meta({4})}};
  auto findings = coverage(*chain, hf);
  CHECK(lines(findings, Severity::warning) ==
        std::vector<std::string>{
            "4:20: 2 key(s) matching 'm.layers.{layer}.experts.{expert}.w' are left untouched by "
            "forward: "
            "m.layers.0.experts.{0..1}.w",
            "7:5: this rename never fires on this layout: no key matches what it reads (a typo?)"});
}

TEST_CASE("an op in a branch the layout never takes is a note and not a warning") {
  auto chain = load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  auto findings = coverage(*chain, qwen3_moe_layout(false));
  CHECK(lines(findings, Severity::warning).empty());
  auto notes = lines(findings, Severity::note);
  REQUIRE(!notes.empty());
  for (const std::string& n : notes) CHECK_THAT(n, Catch::Contains("is not taken"));
}

TEST_CASE("lint with a layout for another model type is a finding") {
  const std::vector<TensorSpec> hf = specs_of(qwen3_moe_layout(false));
  LintOptions options;
  options.layout = &hf;
  options.model_type = "llama";
  auto findings = lint_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml", options);
  REQUIRE(findings.size() == 1);
  CHECK_THAT(findings[0].message, Catch::Contains("model_type 'llama'"));
  options.model_type = "qwen3_moe";
  CHECK(lint_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml", options).size() ==
        check_coverage(*load_chain_file(CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml"), hf).size());
}

TEST_CASE("a piece used for two prefixes fires when either use does") {
  auto chain = chain_from(kHead + R"(pieces:
  layer:
    params: [at]
    ops:
      - rename: {from: "${at}.gate.weight", to: "${at}.router.weight"}
ops:
  - use: layer
    with: {at: "model.layers.{layer}"}
  - use: layer
    with: {at: "model.language_model.layers.{layer}"}
)");
  StateDict vlm{{"model.language_model.layers.0.gate.weight", meta({4})}};
  CHECK(coverage(*chain, vlm).empty());
  StateDict neither{{"model.other", meta({4})}};
  CHECK(lines(coverage(*chain, neither), Severity::warning) ==
        std::vector<std::string>{
            "8:9: this rename never fires on this layout: no key matches what it reads (a typo?)"});
}
