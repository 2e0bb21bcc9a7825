// Chain parameters: what a chain declares under `params:` (name, type, default, doc), the
// integer expressions ops take wherever they take an integer, and the values in force for
// one lowering.
//
//   params:
//     hf_experts: {type: string, values: [per_expert, fused], default: fused, doc: ...}
//     heads: {type: int, default: "${config.num_attention_heads}", doc: ...}
//   ops:
//     - split: {..., sizes: ["${heads} * 64", "${config.hidden_size} / 2"]}
//
// `${name}` is a parameter, `${config.a.b}` a config.json value (nested objects by dots).
// Expressions are integer arithmetic: + - * / % (floor division and modulo, as in Python),
// unary -, parentheses, and `[i]` on an int list. Names, types and syntax are checked when
// the chain compiles; values are bound once per lowering (ParamEnv), from Options::params
// (the user's text, by name) over each declaration's default, and Options::config (the
// config.json text), parsed only when the chain reads a config value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"

namespace chainconv {

enum class ParamType { integer, boolean, string, int_list };
std::string_view param_type_name(ParamType type);  // "int", "bool", "string", "int_list"

using ParamValue = std::variant<int64_t, bool, std::string, std::vector<int64_t>>;
std::string param_value_str(const ParamValue& value);
ParamType type_of(const ParamValue& value);

struct IntExpr;
class ParamEnv;
class ParamTable;

// A compiled integer-valued expression (a plain constant costs nothing to evaluate).
class IntArg {
 public:
  IntArg(int64_t constant = 0) : constant_(constant) {}  // NOLINT: a constant is an IntArg
  IntArg(Position pos, std::string text, std::shared_ptr<const IntExpr> expr);
  // An integer or an expression (piece parameters already substituted) at `pos`: a constant
  // when it reads nothing. Throws CheckError naming what is wrong.
  static IntArg parse(ParamTable& table, const std::string& text, const Position& pos,
                      const std::string& what);

  bool is_constant() const { return !expr_; }
  // Throws Error at the expression's position: a config field missing, division by zero,
  // overflow, an index out of range.
  int64_t value(const ParamEnv& env) const;
  const std::string& text() const { return text_; }
  const Position& pos() const { return pos_; }

 private:
  int64_t constant_ = 0;
  Position pos_;
  std::string text_;
  std::shared_ptr<const IntExpr> expr_;
};

// An int list argument: a list of IntArgs, or one expression naming an int list.
class IntListArg {
 public:
  IntListArg() = default;
  explicit IntListArg(std::vector<IntArg> items) : items_(std::move(items)) {}
  IntListArg(Position pos, std::string text, std::shared_ptr<const IntExpr> whole);
  std::vector<int64_t> value(const ParamEnv& env) const;

 private:
  std::vector<IntArg> items_;
  Position pos_;
  std::string text_;
  std::shared_ptr<const IntExpr> whole_;  // a reference to a list value
};

struct ParamDecl {
  std::string name;
  ParamType type = ParamType::string;
  std::string doc;
  std::vector<std::string> values;  // strings only: the allowed values (empty: any)
  Position pos;
  // The default: a value, or (config_path >= 0) the config value at that path, or (for an
  // int) an expression over config values.
  std::optional<ParamValue> default_value;
  std::shared_ptr<const IntExpr> default_expr;
  std::string default_text;
};

// What a chain declares and reads, built while it compiles.
class ParamTable {
 public:
  std::vector<ParamDecl> decls;
  std::vector<std::string> config_paths;  // every ${config.X} read, each once

  const ParamDecl* find(const std::string& name) const;
  int index_of(const std::string& name) const;  // -1 when undeclared
  int config_index(const std::string& path);    // adds the path when new
  std::string names() const;                    // "a, b" or "none"

  // Parses an expression's text (piece parameters already substituted) at `pos`; throws
  // CheckError ("reference" for unknown names, "schema" for syntax and types) naming it.
  std::shared_ptr<const IntExpr> parse_int(const std::string& text, const Position& pos,
                                           bool allow_params = true);
  // `${name}` or `${config.path}` alone, of any type; nullptr when the text is not one
  // reference.
  std::shared_ptr<const IntExpr> parse_reference(const std::string& text, const Position& pos,
                                                 bool allow_params = true);
  // The declared type of a reference (nullopt for a config value: known only when bound).
  std::optional<ParamType> type_of_reference(const IntExpr& ref) const;
};

class Node;
// Reads one declaration under `params:` (`name: {type, default, doc, values}`) into `table`;
// throws CheckError at the field at fault.
void parse_param_decl(const Node& name, const Node& body, ParamTable& table);

// Parses a user-given value (`--set NAME=VALUE`, Options::params) as `decl` says; throws
// Error naming the parameter and where it is declared.
ParamValue parse_param_value(const ParamDecl& decl, const std::string& text);

// The values in force for one lowering.
class ParamEnv {
 public:
  ParamEnv() = default;
  // Binds `table` for `options`: throws Error for a user value of an undeclared parameter
  // or the wrong type, or config text that is not a JSON object. A default that needs a
  // config value that is missing fails only where it is used.
  ParamEnv(const ParamTable& table, const Options& options);

  const ParamValue& param(int index, const Position& use) const;
  const ParamValue& config(int index, const Position& use) const;
  const ParamTable* table() const { return table_; }

 private:
  struct Slot {
    std::optional<ParamValue> value;
    std::string missing;  // why there is none
  };
  const ParamTable* table_ = nullptr;
  std::vector<Slot> params_, config_;
};

// An empty environment for chains without parameters (the common case: nothing to bind).
const ParamEnv& no_params();

}  // namespace chainconv
