// Layouts: key sets, shapes and dtypes generated from configs, checked against keys and
// counts written by hand from docs/MODELS.md and the published checkpoints; the expression
// language; errors that name the config field; adding a model without compiling.
#include <filesystem>
#include <fstream>

#include "chains/chain_support.h"
#include "core/key_ranges.h"
#include "layout/expr.h"

using namespace chainconv;
using namespace chainconv::testing;
using json = nlohmann::json;

namespace {

std::map<std::string, TensorSpec> by_key(const Layout& layout) {
  std::map<std::string, TensorSpec> out;
  for (const TensorSpec& t : layout.tensors) out[t.key] = t;
  return out;
}

std::vector<std::string> keys_of(const Layout& layout) {
  std::vector<std::string> keys;
  for (const TensorSpec& t : layout.tensors) keys.push_back(t.key);
  return keys;
}

json eval(const std::string& text, const json& vars = json::object()) {
  ExprEnv env;
  env.find = [&](const std::string& name) -> const json* {
    return vars.contains(name) ? &vars[name] : nullptr;
  };
  env.describe_missing = [](const std::string& name) { return "no field '" + name + "'"; };
  return Expr::parse(text, "test").eval(env);
}

}  // namespace

TEST_CASE("qwen3_moe tiny layout lists exactly the keys of a Qwen3-MoE checkpoint") {
  Layout layout = tiny_layout("qwen3_moe");
  CHECK(layout.model_type == "qwen3_moe");
  std::vector<std::string> expected = {"model.embed_tokens.weight", "model.norm.weight",
                                       "lm_head.weight"};
  for (int l = 0; l < 3; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* k :
         {"input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
          "self_attn.v_proj", "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm"})
      expected.push_back(p + k + ".weight");
    if (l == 0) {  // mlp_only_layers: [0]
      for (const char* k : {"gate_proj", "up_proj", "down_proj"})
        expected.push_back(p + "mlp." + k + ".weight");
      continue;
    }
    expected.push_back(p + "mlp.gate.weight");
    for (int e = 0; e < 4; ++e)
      for (const char* k : {"gate_proj", "up_proj", "down_proj"})
        expected.push_back(p + "mlp.experts." + std::to_string(e) + "." + k + ".weight");
  }
  CHECK(keys_of(layout) == sorted(expected));
  auto t = by_key(layout);
  // hidden 8, heads 2 x head_dim 4, 1 kv head, moe_intermediate 4, 4 experts, vocab 16.
  CHECK(t["model.layers.1.mlp.experts.3.down_proj.weight"].shape == std::vector<int64_t>{8, 4});
  CHECK(t["model.layers.1.mlp.gate.weight"].shape == std::vector<int64_t>{4, 8});
  CHECK(t["model.layers.2.self_attn.k_proj.weight"].shape == std::vector<int64_t>{4, 8});
  CHECK(t["model.layers.0.mlp.gate_proj.weight"].shape == std::vector<int64_t>{12, 8});
  CHECK(t["lm_head.weight"].dtype->name == "BF16");

  Layout fused = tiny_layout("qwen3_moe", ExpertLayout::fused);
  auto f = by_key(fused);
  CHECK(f["model.layers.2.mlp.experts.gate_up_proj"].shape == std::vector<int64_t>{4, 8, 8});
  CHECK(f["model.layers.2.mlp.experts.down_proj"].shape == std::vector<int64_t>{4, 8, 4});
  CHECK(fused.tensors.size() == layout.tensors.size() - 2 * (12 - 2));
}

TEST_CASE("layouts decide MoE and dense layers from the config") {
  json config = tiny_config("qwen3_moe", chains_dir());
  config["num_hidden_layers"] = 4;
  config["decoder_sparse_step"] = 2;
  config["mlp_only_layers"] = json::array({3});
  auto keys = by_key(make_layout(config, ExpertLayout::per_expert, chains_dir()));
  // MoE iff not in mlp_only_layers and (layer + 1) % step == 0: only layer 1.
  CHECK(keys.count("model.layers.0.mlp.gate_proj.weight"));
  CHECK(keys.count("model.layers.1.mlp.gate.weight"));
  CHECK(keys.count("model.layers.2.mlp.gate_proj.weight"));
  CHECK(keys.count("model.layers.3.mlp.gate_proj.weight"));
  CHECK_FALSE(keys.count("model.layers.3.mlp.gate.weight"));

  // GLM: dense below first_k_dense_replace, and the MTP layer at num_hidden_layers.
  auto glm = by_key(tiny_layout("glm4_moe"));
  CHECK(glm.count("model.layers.0.mlp.gate_proj.weight"));
  CHECK(glm.count("model.layers.1.mlp.shared_experts.up_proj.weight"));
  CHECK(glm["model.layers.1.mlp.gate.e_score_correction_bias"].dtype->name == "F32");
  CHECK(glm["model.layers.2.eh_proj.weight"].shape == std::vector<int64_t>{8, 16});
  CHECK(glm.count("model.layers.2.mlp.experts.0.gate_proj.weight"));
  CHECK_FALSE(glm.count("model.layers.3.input_layernorm.weight"));

  // Nemotron-H: M mamba, E MoE, * attention.
  json nemotron = tiny_config("nemotron_h", chains_dir());
  nemotron["hybrid_override_pattern"] = "*EM";
  auto n = by_key(make_layout(nemotron, ExpertLayout::per_expert, chains_dir()));
  CHECK(n.count("backbone.layers.0.mixer.q_proj.weight"));
  CHECK(n.count("backbone.layers.1.mixer.experts.3.down_proj.weight"));
  CHECK(n.count("backbone.layers.2.mixer.in_proj.weight"));
  nemotron["hybrid_override_pattern"] = "*E-";
  CHECK_THROWS_WITH(make_layout(nemotron, ExpertLayout::per_expert, chains_dir()),
                    Catch::Contains("other than M, E and *"));
}

TEST_CASE("qwen3_5_moe VLM layout reads text_config and nests layers under language_model") {
  auto vlm = by_key(tiny_layout("qwen3_5_moe"));
  CHECK(vlm.count("model.language_model.layers.3.self_attn.q_proj.weight"));
  CHECK(vlm["model.language_model.layers.3.self_attn.q_proj.weight"].shape ==
        std::vector<int64_t>{16, 8});
  CHECK(vlm["model.language_model.layers.0.linear_attn.conv1d.weight"].shape ==
        std::vector<int64_t>{16, 1, 2});
  CHECK(vlm.count("model.visual.merger.linear_fc2.weight"));
  CHECK(vlm.count("mtp.layers.0.mlp.experts.3.up_proj.weight"));
  // MTP experts stay per-expert in a fused checkpoint.
  auto fused = by_key(tiny_layout("qwen3_5_moe", ExpertLayout::fused));
  CHECK(fused.count("model.language_model.layers.1.mlp.experts.gate_up_proj"));
  CHECK(fused.count("mtp.layers.0.mlp.experts.3.up_proj.weight"));

  json broken = tiny_config("qwen3_5_moe", chains_dir());
  broken["text_config"].erase("moe_intermediate_size");
  CHECK_THROWS_WITH(make_layout(broken, ExpertLayout::per_expert, chains_dir()),
                    Catch::Contains("config.json has no field 'moe_intermediate_size'"));
}

TEST_CASE("minimax_m2 layout is FP8 with weight_scale_inv companions") {
  auto t = by_key(tiny_layout("minimax_m2"));
  const std::string w1 = "model.layers.0.block_sparse_moe.experts.2.w1.weight";
  CHECK(t[w1].dtype->name == "F8_E4M3");
  CHECK(t[w1].shape == std::vector<int64_t>{4, 8});
  CHECK(t[w1 + "_scale_inv"].dtype->name == "F32");
  CHECK(t[w1 + "_scale_inv"].shape == std::vector<int64_t>{1, 2});  // blocks of [4, 4]
  CHECK(t["model.layers.0.block_sparse_moe.gate.weight"].dtype->name == "BF16");

  json plain = tiny_config("minimax_m2", chains_dir());
  plain.erase("quantization_config");
  auto p = by_key(make_layout(plain, ExpertLayout::per_expert, chains_dir()));
  CHECK(p[w1].dtype->name == "BF16");
  CHECK_FALSE(p.count(w1 + "_scale_inv"));

  CHECK_THROWS_WITH(make_layout(plain, ExpertLayout::fused, chains_dir()),
                    Catch::Contains("no fused experts layout"));
  CHECK(has_fused_layout("qwen3_moe", chains_dir()));
}

TEST_CASE("deepseek_v3 full layout has DeepSeek-V3's MLA, MoE, MTP and FP8 shapes") {
  auto t = by_key(make_layout(full_config("deepseek_v3", chains_dir()), ExpertLayout::per_expert,
                              chains_dir()));
  using Shape = std::vector<int64_t>;
  // MLA: q_lora_rank 1536, kv_lora_rank 512, 128 heads x (128 nope + 64 rope), v_head_dim 128.
  const std::string a = "model.layers.0.self_attn.";
  CHECK(t[a + "q_a_proj.weight"].shape == Shape{1536, 7168});
  CHECK(t[a + "q_a_proj.weight_scale_inv"].shape == Shape{12, 56});
  CHECK(t[a + "q_b_proj.weight"].shape == Shape{128 * 192, 1536});
  CHECK(t[a + "kv_a_proj_with_mqa.weight"].shape == Shape{512 + 64, 7168});
  CHECK(t[a + "kv_a_proj_with_mqa.weight_scale_inv"].shape == Shape{5, 56});  // ceil(576 / 128)
  CHECK(t[a + "kv_b_proj.weight"].shape == Shape{128 * 256, 512});
  CHECK(t[a + "o_proj.weight"].shape == Shape{7168, 128 * 128});
  CHECK(t[a + "kv_a_layernorm.weight"].shape == Shape{512});
  CHECK(t[a + "q_a_proj.weight"].dtype->name == "F8_E4M3");
  CHECK(t[a + "q_a_layernorm.weight"].dtype->name == "BF16");
  // Layers 0-2 dense (intermediate 18432), 3 and up MoE (256 experts of 2048, 1 shared).
  CHECK(t["model.layers.2.mlp.gate_proj.weight"].shape == Shape{18432, 7168});
  CHECK(t["model.layers.2.mlp.down_proj.weight_scale_inv"].shape == Shape{56, 144});
  CHECK_FALSE(t.count("model.layers.3.mlp.gate_proj.weight"));
  CHECK(t["model.layers.3.mlp.gate.weight"].shape == Shape{256, 7168});
  CHECK(t["model.layers.3.mlp.gate.weight"].dtype->name == "BF16");
  CHECK(t["model.layers.3.mlp.gate.e_score_correction_bias"].dtype->name == "F32");
  CHECK(t["model.layers.3.mlp.experts.255.down_proj.weight"].shape == Shape{7168, 2048});
  CHECK(t["model.layers.3.mlp.experts.255.down_proj.weight_scale_inv"].shape == Shape{56, 16});
  CHECK(t["model.layers.60.mlp.shared_experts.up_proj.weight"].shape == Shape{2048, 7168});
  // The MTP layer is model.layers.61, a MoE layer with its extra keys; there is no layer 62.
  CHECK(t.count("model.layers.61.mlp.experts.0.gate_proj.weight_scale_inv"));
  CHECK(t["model.layers.61.eh_proj.weight"].shape == Shape{7168, 2 * 7168});
  CHECK(t["model.layers.61.shared_head.head.weight"].shape == Shape{129280, 7168});
  CHECK_FALSE(t.count("model.layers.62.input_layernorm.weight"));
  CHECK(t["lm_head.weight"].dtype->name == "BF16");

  // Without q_lora_rank (DeepSeek-V2-Lite style) the query is one q_proj.
  json lite = tiny_config("deepseek_v3", chains_dir());
  lite["q_lora_rank"] = nullptr;
  auto l = by_key(make_layout(lite, ExpertLayout::per_expert, chains_dir()));
  CHECK(l["model.layers.0.self_attn.q_proj.weight"].shape == Shape{2 * 4, 8});
  CHECK_FALSE(l.count("model.layers.0.self_attn.q_a_proj.weight"));
}

TEST_CASE("mixtral, qwen2_moe and olmoe layouts have their published shapes") {
  using Shape = std::vector<int64_t>;
  auto full = [](const std::string& model_type) {
    return by_key(
        make_layout(full_config(model_type, chains_dir()), ExpertLayout::per_expert, chains_dir()));
  };
  // Mixtral-8x7B: hidden 4096, 14336 per expert, 32 heads / 8 kv heads of 128.
  auto m = full("mixtral");
  CHECK(m["model.layers.31.block_sparse_moe.gate.weight"].shape == Shape{8, 4096});
  CHECK(m["model.layers.0.block_sparse_moe.experts.7.w1.weight"].shape == Shape{14336, 4096});
  CHECK(m["model.layers.0.block_sparse_moe.experts.7.w2.weight"].shape == Shape{4096, 14336});
  CHECK(m["model.layers.0.self_attn.k_proj.weight"].shape == Shape{1024, 4096});
  // Qwen1.5-MoE-A2.7B: 60 experts of 1408, a shared expert of 5632 with a one-row gate.
  auto q = full("qwen2_moe");
  CHECK(q["model.layers.0.mlp.experts.59.gate_proj.weight"].shape == Shape{1408, 2048});
  CHECK(q["model.layers.0.mlp.shared_expert.down_proj.weight"].shape == Shape{2048, 5632});
  CHECK(q["model.layers.0.mlp.shared_expert_gate.weight"].shape == Shape{1, 2048});
  CHECK(q["model.layers.23.self_attn.q_proj.bias"].shape == Shape{2048});
  CHECK_FALSE(q.count("model.layers.0.self_attn.o_proj.bias"));
  auto tiny_fused = by_key(tiny_layout("qwen2_moe", ExpertLayout::fused));
  CHECK(tiny_fused["model.layers.1.mlp.experts.gate_up_proj"].shape == Shape{4, 8, 8});
  CHECK(tiny_fused.count("model.layers.1.mlp.shared_expert.gate_proj.weight"));
  CHECK(tiny_fused.count("model.layers.0.mlp.gate_proj.weight"));  // mlp_only_layers: [0]
  // OLMoE-1B-7B: 64 experts of 1024; q/k norms over the whole projection.
  auto o = full("olmoe");
  CHECK(o["model.layers.15.mlp.experts.63.up_proj.weight"].shape == Shape{1024, 2048});
  CHECK(o["model.layers.0.self_attn.q_norm.weight"].shape == Shape{2048});
  CHECK(o["model.layers.0.self_attn.k_norm.weight"].shape == Shape{2048});
  CHECK(o["model.layers.0.mlp.gate.weight"].shape == Shape{64, 2048});
}

TEST_CASE("layout errors name the missing config field and the unknown model type") {
  json config = tiny_config("qwen3_moe", chains_dir());
  config.erase("num_experts");
  CHECK_THROWS_WITH(make_layout(config, ExpertLayout::per_expert, chains_dir()),
                    Catch::Contains("config.json has no field 'num_experts'") &&
                        Catch::Contains("qwen3_moe.yaml:"));
  CHECK_THROWS_WITH(make_layout(json{{"hidden_size", 8}}, ExpertLayout::per_expert, chains_dir()),
                    Catch::Contains("'model_type'"));
  CHECK_THROWS_WITH(
      make_layout(json{{"model_type", "nope"}}, ExpertLayout::per_expert, chains_dir()),
      Catch::Contains("no layout for model_type 'nope'"));
  CHECK_THROWS_WITH(tiny_config("nope", chains_dir()), Catch::Contains("nope.config.json"));
}

TEST_CASE("synthetic state dicts are deterministic per seed and key and meta dicts hold no data") {
  Layout layout = tiny_layout("minimax_m2");
  StateDict a = synthetic_state_dict(layout, 1), b = synthetic_state_dict(layout, 1),
            c = synthetic_state_dict(layout, 2);
  require_identical(a, b);
  const std::string w = "model.layers.0.block_sparse_moe.experts.0.w1.weight";
  CHECK_FALSE(at::equal(a.at(w), c.at(w)));
  CHECK_FALSE(at::equal(a.at("model.layers.0.self_attn.q_norm.weight"),
                        a.at("model.layers.1.self_attn.q_norm.weight")));
  CHECK(a.item(w).opaque_dtype == "F8_E4M3");
  CHECK(a.at(w).scalar_type() == at::kByte);
  CHECK(a.at("model.embed_tokens.weight").scalar_type() == at::kBFloat16);
  CHECK(a.at("model.layers.0.block_sparse_moe.e_score_correction_bias").scalar_type() ==
        at::kFloat);

  StateDict meta = meta_state_dict(layout);
  CHECK(meta.size() == layout.tensors.size());
  CHECK(meta.at(w).is_meta());
  CHECK(meta.item(w).opaque_dtype == "F8_E4M3");
  CHECK(meta.at(w).sizes() == at::IntArrayRef{4, 8});
}

TEST_CASE("layout expressions") {
  json vars = {{"a", 7}, {"s", "ME*"}, {"l", {1, 3}}, {"o", {{"x", {128, 64}}}}};
  CHECK(eval("a * 2 + 1", vars) == 15);
  CHECK(eval("-7 // 2") == -4);
  CHECK(eval("-7 % 2") == 1);
  CHECK(eval("s[1] == 'E'", vars) == true);
  CHECK(eval("3 in l and 2 not in l", vars) == true);
  CHECK(eval("ceil_div(a, o.x[1])", vars) == 1);
  CHECK(eval("'x' if a > 3 else 'y'", vars) == "x");
  CHECK(eval("has('missing') and missing > 0", vars) == false);  // short-circuit
  CHECK(eval("get('o.x', 0)", vars) == json({128, 64}));
  CHECK(eval("get('o.y', 5)", vars) == 5);
  CHECK(eval("len(s) + len(range(2, 5))", vars) == 6);
  CHECK_THROWS_WITH(eval("missing + 1", vars), Catch::Contains("no field 'missing'"));
  CHECK_THROWS_WITH(eval("o.y", vars), Catch::Contains("no field 'o.y'"));
  CHECK_THROWS_WITH(eval("a +", vars), Catch::Contains("unexpected end"));
  CHECK_THROWS_WITH(eval("a // 0", vars), Catch::Contains("division by zero"));
}

TEST_CASE("a new model needs only a chain file a layout and a config") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("chainconv_new_model_" + std::to_string(::getpid()));
  fs::create_directories(dir / "layouts");
  fs::copy(chains_dir() + "/common", dir / "common", fs::copy_options::recursive);
  std::ofstream(dir / "toy_moe.yaml") << R"(version: 1
model_types: [toy_moe]
description: A toy MoE whose router is called `router`.
include: [common/moe.yaml]
params:
  hf_experts: {type: string, values: [per_expert, fused], default: per_expert, doc: layout}
ops:
  - rename: {from: "model.layers.{layer}.mlp.router.weight", to: "model.layers.{layer}.mlp.router.gate.weight"}
  - use: routed_experts
    with: {prefix: "model.layers.{layer}.mlp"}
)";
  std::ofstream(dir / "layouts" / "toy_moe.yaml") << R"(model_types: [toy_moe]
dtype: F32
tensors:
  - for: {layer: num_hidden_layers}
    tensors:
      - {key: "model.layers.{layer}.mlp.router.weight", shape: [n_experts, dim]}
      - for: {expert: n_experts}
        tensors:
          - {key: "model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight", shape: [ffn, dim]}
          - {key: "model.layers.{layer}.mlp.experts.{expert}.up_proj.weight", shape: [ffn, dim]}
          - {key: "model.layers.{layer}.mlp.experts.{expert}.down_proj.weight", shape: [dim, ffn]}
)";
  std::ofstream(dir / "layouts" / "toy_moe.config.json")
      << R"({"model_type": "toy_moe", "num_hidden_layers": 2, "n_experts": 3, "dim": 4, "ffn": 2})";

  json config = tiny_config("toy_moe", dir.string());
  StateDict hf =
      synthetic_state_dict(make_layout(config, ExpertLayout::per_expert, dir.string()), 3);
  CHECK(hf.size() == 2 * (1 + 3 * 3));
  auto chain = load_chain_file(ChainRegistry::scan(dir.string()).chain_for("toy_moe"));
  StateDict prime = convert(*chain, hf, Direction::to_prime);
  CHECK(prime.at("model.layers.1.mlp.experts.w2").sizes() == at::IntArrayRef{3, 4, 2});
  CHECK(at::equal(prime.at("model.layers.1.mlp.router.gate.weight"),
                  hf.at("model.layers.1.mlp.router.weight")));
  require_identical(convert(*chain, prime, Direction::to_hf), hf);
  fs::remove_all(dir);
}
