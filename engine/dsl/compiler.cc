#include "dsl/compiler.h"

#include <algorithm>

#include "ops/registry.h"

namespace chainconv {

KeyTemplate Compiler::key(const Node& node, bool prefix) const {
  return KeyTemplate::compile(node.str(prefix ? "a key prefix" : "a key template"), node.pos(), prefix);
}

std::vector<KeyTemplate> Compiler::keys(const Node& node) const {
  std::vector<KeyTemplate> result;
  for (const Node& item : node.one_or_many("a key template or a list of them")) result.push_back(key(item));
  return result;
}

OpList Compiler::ops(const Node& list) {
  OpList result;
  for (const Node& item : list.list("a list of ops")) result.push_back(op(item));
  return result;
}

static std::string known_op_names() {
  std::string names;
  for (const OpKind& kind : op_kinds()) names += (names.empty() ? "" : ", ") + std::string(kind.name);
  return names;
}

OpPtr Compiler::op(const Node& node) {
  auto entries = node.entries("an op (a mapping such as 'rename: {from: ..., to: ...}')");
  if (entries.empty()) throw node.error("empty op; expected one of: " + known_op_names());
  // The op's kind is whichever of its keys names a registered op; its other keys (then,
  // else, with, ...) belong to that op and are checked by its parser.
  const OpKind* found = nullptr;
  for (const auto& [key, value] : entries) {
    if (!key.is_scalar()) continue;
    if (const OpKind* kind = find_op_kind(key.yaml().Scalar())) {
      found = kind;
      break;
    }
  }
  if (!found) {
    const Node& first = entries.front().first;
    throw first.error("unknown op '" + (first.is_scalar() ? first.yaml().Scalar() : "?") +
                      "' (expected one of: " + known_op_names() + ")");
  }
  return found->parse(node, *this);
}

Node Compiler::args(const Node& op, const std::string& kind, const std::vector<std::string>& fields) const {
  op.allow_only({kind}, "a '" + kind + "' op");
  Node args = op[kind];
  args.allow_only(fields, "'" + kind + "'");
  return args;
}

void Compiler::define_piece(PieceDef piece) {
  auto [it, inserted] = pieces_.try_emplace(piece.name, piece);
  if (!inserted)
    throw Error(piece.pos, "piece '" + piece.name + "' is already defined at " + it->second.pos.str());
}

const PieceDef* Compiler::find_piece(const std::string& name) const {
  auto it = pieces_.find(name);
  return it == pieces_.end() ? nullptr : &it->second;
}

Compiler::UseGuard::UseGuard(Compiler& c, const std::string& name, const Node& at) : compiler(c) {
  auto& stack = c.use_stack_;
  if (std::find(stack.begin(), stack.end(), name) != stack.end())
    throw at.error("piece '" + name + "' uses itself (through " + stack.front() + ")");
  stack.push_back(name);
}

Compiler::UseGuard::~UseGuard() { compiler.use_stack_.pop_back(); }

}  // namespace chainconv
