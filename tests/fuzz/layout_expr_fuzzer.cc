// libFuzzer target: the layout expression language (engine/layout/expr.h), parsed and then
// evaluated against a small config with integers, lists, strings and objects. Malformed or
// ill-typed expressions must throw Error; anything else (a crash, another exception, a
// sanitizer report) is a finding.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "layout/expr.h"

namespace {

const nlohmann::json& config() {
  static const nlohmann::json c = nlohmann::json::parse(R"({
    "layer": 3, "num_hidden_layers": 48, "head_dim": 128, "num_attention_heads": 32,
    "mlp_only_layers": [0, 47], "decoder_sparse_step": 1, "hybrid_override_pattern": "M-M*E",
    "quantization_config": {"weight_block_size": [128, 128]}, "tie": false, "big": 9223372036854775807,
    "small": -9223372036854775807, "x": 0.5, "nothing": null
  })");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  chainconv::ExprEnv env;
  env.find = [](const std::string& name) -> const nlohmann::json* {
    return config().contains(name) ? &config()[name] : nullptr;
  };
  env.describe_missing = [](const std::string& name) { return "no field '" + name + "'"; };
  try {
    chainconv::Expr expr = chainconv::Expr::parse(text, "fuzz");
    try {
      expr.eval(env);
    } catch (const chainconv::Error&) {
    }
    try {
      expr.eval_int(env);
    } catch (const chainconv::Error&) {
    }
    try {
      expr.eval_bool(env);
    } catch (const chainconv::Error&) {
    }
  } catch (const chainconv::Error&) {
  }
  return 0;
}
