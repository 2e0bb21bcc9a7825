// The correctness check against a target layout (check/target_check.h): a chain that
// roundtrips exactly can still be wrong, and the prime layout, written by hand here from
// docs/MODELS.md, catches it at the op that made the first wrong tensor.
#include "check/lint.h"
#include "check/target_check.h"
#include "layout/layout.h"
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

constexpr int L = 2, E = 4, I = 8, H = 16;

TensorSpec bf16(std::string key, std::vector<int64_t> shape) {
  return {std::move(key), std::move(shape), &dtype_named("BF16")};
}

// Qwen3-MoE's HF side: router gate [E, H] and fused experts gate_up_proj [E, 2I, H] (gate
// rows first), down_proj [E, H, I]; or per expert gate/up [I, H], down [H, I].
std::vector<TensorSpec> hf_side(bool fused) {
  std::vector<TensorSpec> hf = {bf16("model.embed_tokens.weight", {32, H})};
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    hf.push_back(bf16(p + "gate.weight", {E, H}));
    if (fused) {
      hf.push_back(bf16(p + "experts.gate_up_proj", {E, 2 * I, H}));
      hf.push_back(bf16(p + "experts.down_proj", {E, H, I}));
      continue;
    }
    for (int e = 0; e < E; ++e) {
      const std::string x = p + "experts." + std::to_string(e) + ".";
      hf.push_back(bf16(x + "gate_proj.weight", {I, H}));
      hf.push_back(bf16(x + "down_proj.weight", {H, I}));
      hf.push_back(bf16(x + "up_proj.weight", {I, H}));
    }
  }
  return hf;
}

// The prime side: router.gate.weight [E, H], experts.w1 (gate) [E, I, H], w2 (down) [E, H, I],
// w3 (up) [E, I, H].
std::vector<TensorSpec> prime_side() {
  std::vector<TensorSpec> prime = {bf16("model.embed_tokens.weight", {32, H})};
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    prime.push_back(bf16(p + "router.gate.weight", {E, H}));
    prime.push_back(bf16(p + "experts.w1", {E, I, H}));
    prime.push_back(bf16(p + "experts.w2", {E, H, I}));
    prime.push_back(bf16(p + "experts.w3", {E, I, H}));
  }
  return prime;
}

const std::string kHead =
    "version: 1\nmodel_types: [qwen3_moe]\ndescription: t\ninclude: [common/moe.yaml]\n"
    "params:\n  hf_experts: {type: string, values: [per_expert, fused], default: per_expert, "
    "doc: d}\nops:\n";

std::vector<std::string> target_errors(const std::string& ops, bool fused) {
  const std::vector<TensorSpec> hf = hf_side(fused), prime = prime_side(),
                                per_expert = hf_side(false);
  LintOptions options;
  options.layout = &hf;
  Layout prime_layout{"qwen3_moe", prime, {}};
  options.target_layout = [&](const std::string& target) -> const Layout* {
    return target == "prime" ? &prime_layout : nullptr;
  };
  options.hf_layout = [&](bool want_fused) { return want_fused ? &hf : &per_expert; };
  std::vector<std::string> out;
  for (const Finding& f : lint_text(kHead + ops, "t.yaml", CHAINCONV_SOURCE_DIR "/chains", options))
    if (f.check != "target") {
      INFO(f.message);
      CHECK(f.severity != Severity::error);  // the chain itself compiles and roundtrips
    } else
      out.push_back(std::to_string(f.pos.line) + ":" + std::to_string(f.pos.col) + ": " +
                    f.message);
  return out;
}

const std::string kRouter =
    "  - rename: {from: \"model.layers.{layer}.mlp.gate.weight\", to: "
    "\"model.layers.{layer}.mlp.router.gate.weight\"}\n";

}  // namespace

TEST_CASE("a chain that makes the prime layout exactly has no target findings") {
  const std::string ops = kRouter + R"(  - use: routed_experts
    with: {prefix: "model.layers.{layer}.mlp"}
)";
  CHECK(target_errors(ops, false).empty());
  CHECK(target_errors(ops, true).empty());
}

TEST_CASE("a fused gate_up split on dim 2 instead of 1 is an error at the split") {
  // Invertible (concatenating on dim 2 undoes it), so the roundtrip cannot tell.
  const std::string ops =
      kRouter +
      R"(  - split: {from: "model.layers.{layer}.mlp.experts.gate_up_proj", into: ["model.layers.{layer}.mlp.experts.w1", "model.layers.{layer}.mlp.experts.w3"], dim: 2}
  - rename: {from: "model.layers.{layer}.mlp.experts.down_proj", to: "model.layers.{layer}.mlp.experts.w2"}
)";
  const std::vector<std::string> errors = target_errors(ops, true);
  CHECK(std::count(errors.begin(), errors.end(),
                   "9:5: to_prime: split makes 'model.layers.0.mlp.experts.w1' BF16 [4, 16, 8], "
                   "but the prime layout has BF16 [4, 8, 16]") == 1);
}

TEST_CASE("a key the chain forgets, or makes under another name, is named both ways") {
  // No router rename: HF's gate.weight stays, prime's router.gate.weight is never made.
  const std::string ops = R"(  - use: routed_experts
    with: {prefix: "model.layers.{layer}.mlp"}
)";
  const std::vector<std::string> errors = target_errors(ops, false);
  CHECK(std::count(errors.begin(), errors.end(),
                   "1:1: to_prime: no op touches, so it keeps 'model.layers.0.mlp.gate.weight' "
                   "(BF16 [4, 16]), which the prime layout does not have") == 1);
  CHECK(std::count(errors.begin(), errors.end(),
                   "1:1: to_prime: nothing makes the prime layout's "
                   "'model.layers.1.mlp.router.gate.weight' (BF16 [4, 16])") == 1);
  CHECK(std::count(errors.begin(), errors.end(),
                   "1:1: to_hf: nothing makes the HF layout's 'model.layers.0.mlp.gate.weight' "
                   "(BF16 [4, 16])") == 1);
}

TEST_CASE("the target check lists the first differences and counts the rest") {
  std::vector<TensorSpec> hf, prime;
  for (int i = 0; i < 30; ++i) hf.push_back(bf16("k." + std::to_string(i), {2}));
  for (int i = 0; i < 30; ++i) prime.push_back(bf16("k." + std::to_string(i), {3}));
  auto chain = chain_from("version: 1\nmodel_types: [t]\ndescription: t\nops: []\n");
  const std::vector<Finding> found =
      check_against_target(*chain, hf, TargetSide{"prime", &prime, nullptr, &hf});
  REQUIRE(found.size() == 2 * 13);
  CHECK_THAT(found[12].message, Catch::Contains("18 more tensors differ from the prime layout"));
}
