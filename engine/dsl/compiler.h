// Parse, then compile: turns the YAML of a chain (and the files it includes) into a tree of
// compiled ops. Templates are compiled once here; pieces are expanded with their
// parameters; every problem carries the file:line:col where it arose and the check it
// belongs to.
//
// A compiler either stops at the first error (loading a chain to run it: the Error is
// thrown) or collects every problem as a finding and goes on with the next op (chainlint).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/node.h"
#include "ops/op.h"
#include "ops/params.h"

namespace chainconv {

struct PieceDef {
  std::string name;
  std::vector<std::string> params;
  std::string doc;
  Node ops;
  Position pos;
};

// Where a compiler's problems go: nullptr throws each at once.
using Diagnostics = std::vector<Finding>;

class Compiler {
 public:
  // The most ops a chain may expand to (pieces using pieces multiply): far beyond any model,
  // and a bound on the work a hostile file can ask for.
  static constexpr size_t kMaxOps = 100'000;

  explicit Compiler(Diagnostics* diagnostics = nullptr) : diagnostics_(diagnostics) {}
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // Reports a problem: thrown at once without a diagnostics sink, recorded with one (the
  // caller then goes on; what it builds is never run, since the chain has errors).
  void report(const CheckError& problem);
  void report(const Position& pos, const std::string& check, const std::string& message) {
    report(CheckError(pos, check, message));
  }
  bool collecting() const { return diagnostics_ != nullptr; }
  // Records what `e` says under its check ("schema" for a plain Error), or rethrows it.
  void absorb(const Error& e);

  // Key templates (scalars), compiled with the node's position. A malformed one is a
  // "template" error, an unknown ${param} in it a "reference" error.
  KeyTemplate key(const Node& node, bool prefix = false) const;
  std::vector<KeyTemplate> keys(const Node& node) const;  // one or a list

  // THE way an op reads an integer argument (a dim, a size, an index, a shape entry): an
  // integer, or an expression over chain parameters and config values such as
  // "${heads} * ${head_dim}" or "${config.hidden_size} / 2" (ops/params.h). Syntax, unknown
  // names and types are errors at the node; the op evaluates it while lowering, once per
  // call, with `arg.value(ctx.params)` (a constant costs nothing).
  IntArg integer(const Node& node, const std::string& what = "an integer") const;
  // A list of such integers, or one ${param} / ${config.field} naming an int list.
  IntListArg int_list(const Node& node, const std::string& what = "a list of integers") const;

  // The chain's parameters (declared under `params:`), for predicates and expressions.
  ParamTable& params() const { return *params_; }
  void use_params(ParamTable* table) { params_ = table; }

  // A list of ops; with diagnostics, an op that fails is reported and left out.
  OpList ops(const Node& list);
  OpPtr op(const Node& node);
  // The single argument mapping of a one-key op such as `rename: {...}`.
  Node args(const Node& op, const std::string& kind, const std::vector<std::string>& fields) const;

  // Pieces: defined by a chain or an included file, played by `use`.
  void define_piece(PieceDef piece);
  const PieceDef* find_piece(const std::string& name) const;
  const std::map<std::string, PieceDef>& pieces() const { return pieces_; }

  // How many piece uses enclose what is being compiled.
  size_t use_depth() const { return use_stack_.size(); }

  // Guards against a piece that uses itself.
  struct UseGuard {
    UseGuard(Compiler& c, const std::string& name, const Node& at);
    ~UseGuard();
    Compiler& compiler;
  };

 private:
  Diagnostics* diagnostics_;
  size_t ops_ = 0;          // ops compiled so far, pieces expanded
  bool exhausted_ = false;  // kMaxOps reached: compiling stops
  std::map<std::string, PieceDef> pieces_;
  std::vector<std::string> use_stack_;
  ParamTable own_params_;  // until a chain's table is in use
  ParamTable* params_ = &own_params_;
};

}  // namespace chainconv
