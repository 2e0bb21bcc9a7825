// Parse, then compile: turns the YAML of a chain (and the files it includes) into a tree of
// compiled ops. Templates are compiled once here; pieces are expanded with their
// parameters; every error carries the file:line:col where it arose.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/node.h"
#include "ops/op.h"

namespace chainconv {

struct PieceDef {
  std::string name;
  std::vector<std::string> params;
  std::string doc;
  Node ops;
  SourcePos pos;
};

class Compiler {
 public:
  // Key templates (scalars), compiled with the node's position.
  KeyTemplate key(const Node& node, bool prefix = false) const;
  std::vector<KeyTemplate> keys(const Node& node) const;  // one or a list

  OpList ops(const Node& list);
  OpPtr op(const Node& node);
  // The single argument mapping of a one-key op such as `rename: {...}`.
  Node args(const Node& op, const std::string& kind, const std::vector<std::string>& fields) const;

  // Pieces: defined by a chain or an included file, played by `use`.
  void define_piece(PieceDef piece);
  const PieceDef* find_piece(const std::string& name) const;
  const std::map<std::string, PieceDef>& pieces() const { return pieces_; }

  // Guards against a piece that uses itself.
  struct UseGuard {
    UseGuard(Compiler& c, const std::string& name, const Node& at);
    ~UseGuard();
    Compiler& compiler;
  };

 private:
  std::map<std::string, PieceDef> pieces_;
  std::vector<std::string> use_stack_;
};

}  // namespace chainconv
