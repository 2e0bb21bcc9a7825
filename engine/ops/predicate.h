// Predicates are data: a small closed vocabulary evaluated on the current state dict.
//
//   present: T            some key matches T
//   absent: T             no key matches T
//   all: [P, ...]         every P holds          any: [P, ...]   some P holds
//   not: P
//   ndim: {key: T, is: N}            some key matching T has N dims
//   size: {key: T, dim: D, is: N}    some key matching T has size N along dim D
//   param: NAME                      the bool parameter NAME is true
//   param: {name: NAME, is: V}       parameter NAME equals V (checked against its type)
//
// Placeholders bound by an enclosing conditional are fixed; the rest match anything.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/key_template.h"
#include "ops/params.h"

namespace chainconv {

class Compiler;
class Node;
class Program;

struct Predicate {
  enum class Kind { present, absent, all, any, negate, ndim, size, param };
  Kind kind = Kind::present;
  Position pos;
  std::optional<KeyTemplate> key;   // present, absent, ndim, size
  std::vector<Predicate> operands;  // all, any, not
  IntArg dim = 0;                   // size
  IntArg expected = 0;              // ndim, size
  int param = -1;                   // param: its index in the chain's table
  ParamValue is = true;             // param: the value it is compared with

  static Predicate parse(const Node& node, const Compiler& c);
  // On the dict being lowered; shape tests read the slots' descriptions in `program`.
  bool eval(const KeyIndex& dict, const Program& program, const Bindings& scope,
            const ParamEnv& params) const;
  // Every template the predicate looks at.
  void templates(std::vector<const KeyTemplate*>& out) const;
  std::vector<std::string> placeholder_names() const;
};

// The predicate vocabulary, for the schema-vs-engine check and the docs.
const std::vector<std::string_view>& predicate_kinds();

}  // namespace chainconv
