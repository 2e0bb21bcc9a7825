// The small expression language of layout files: shapes, layer tests and loop bounds written
// as functions of config.json values, e.g.
//
//   num_attention_heads * head_dim
//   layer not in mlp_only_layers and (layer + 1) % decoder_sparse_step == 0
//   hybrid_override_pattern[layer] == 'E'
//   ceil_div(moe_intermediate_size, quantization_config.weight_block_size[1])
//
// Values are JSON values (integers, strings, booleans, lists, objects). Operators, lowest
// precedence first: `A if C else B`, or, and, not, comparisons (== != < <= > >= in, not in),
// + -, * // %, unary -, then postfix .field, [index] and calls. Functions: has('field'),
// get('field', default), len(x), range(n) / range(a, b), ceil_div(a, b), min(a, b), max(a, b).
// `and`, `or` and `if` evaluate only what they need, so `has('x') and x > 0` is safe.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

namespace chainconv {

struct ExprNode;

// Resolves a name (a loop variable, a `let`, a config field); throws Error when unknown.
// `has` asks whether the name resolves, without throwing.
struct ExprEnv {
  std::function<const nlohmann::json*(const std::string& name)> find;
  // Names the thing that failed for messages, e.g. "config field" or "variable".
  std::function<std::string(const std::string& name)> describe_missing;
};

class Expr {
 public:
  // Parses `text`; throws Error (prefixed with `where`) when it is malformed.
  static Expr parse(const std::string& text, const std::string& where);

  nlohmann::json eval(const ExprEnv& env) const;
  int64_t eval_int(const ExprEnv& env) const;
  bool eval_bool(const ExprEnv& env) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string where_;
  std::shared_ptr<const ExprNode> root_;
};

}  // namespace chainconv
