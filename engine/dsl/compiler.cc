#include "dsl/compiler.h"

#include <algorithm>

#include "core/text.h"
#include "ops/registry.h"

namespace chainconv {

void Compiler::report(const CheckError& problem) {
  if (!diagnostics_) throw problem;
  diagnostics_->push_back(
      Finding{problem.pos(), Severity::error, problem.message(), problem.check()});
}

void Compiler::absorb(const Error& e) {
  if (const auto* check = dynamic_cast<const CheckError*>(&e)) return report(*check);
  report(e.pos(), "schema", e.message());
}

KeyTemplate Compiler::key(const Node& node, bool prefix) const {
  const std::string text = node.str(prefix ? "a key prefix" : "a key template");
  try {
    return KeyTemplate::compile(text, node.pos(), prefix);
  } catch (const CheckError&) {
    throw;
  } catch (const Error& e) {
    throw CheckError(e.pos(), "template", e.message());
  }
}

std::vector<KeyTemplate> Compiler::keys(const Node& node) const {
  std::vector<KeyTemplate> result;
  for (const Node& item : node.one_or_many("a key template or a list of them"))
    result.push_back(key(item));
  return result;
}

IntArg Compiler::integer(const Node& node, const std::string& what) const {
  return IntArg::parse(*params_, node.expression_text(what), node.pos(), what);
}

IntListArg Compiler::int_list(const Node& node, const std::string& what) const {
  if (node.is_list()) {
    std::vector<IntArg> items;
    for (const Node& item : node.list(what)) items.push_back(integer(item, "an integer"));
    return IntListArg(std::move(items));
  }
  const std::string text = node.expression_text(what);
  std::shared_ptr<const IntExpr> ref = params_->parse_reference(text, node.pos());
  if (!ref) throw CheckError(node.pos(), "schema", "expected " + what + ", found '" + text + "'");
  const std::optional<ParamType> type = params_->type_of_reference(*ref);
  if (type && *type != ParamType::int_list)
    throw CheckError(node.pos(), "schema",
                     "expected " + what + ": '" + text + "' is a " +
                         std::string(param_type_name(*type)) + " parameter, not an int_list");
  return IntListArg(node.pos(), text, std::move(ref));
}

OpList Compiler::ops(const Node& list) {
  OpList result;
  for (const Node& item : list.list("a list of ops")) {
    if (exhausted_) break;
    try {
      result.push_back(op(item));
    } catch (const Error& e) {
      if (!collecting()) throw;
      absorb(e);
    }
  }
  return result;
}

static std::string known_op_names() {
  std::vector<std::string> names;
  for (const OpKind& kind : op_kinds()) names.emplace_back(kind.name);
  return join(names);
}

OpPtr Compiler::op(const Node& node) {
  if (++ops_ > kMaxOps) {
    exhausted_ = true;
    throw CheckError(node.pos(), "reference",
                     "the chain expands to more than " + std::to_string(kMaxOps) +
                         " ops (pieces using pieces); this one is past the limit");
  }
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

Node Compiler::args(const Node& op, const std::string& kind,
                    const std::vector<std::string>& fields) const {
  op.allow_only({kind}, "a '" + kind + "' op");
  Node args = op[kind];
  args.allow_only(fields, "'" + kind + "'");
  return args;
}

void Compiler::define_piece(PieceDef piece) {
  auto [it, inserted] = pieces_.try_emplace(piece.name, piece);
  if (!inserted)
    report(piece.pos, "reference",
           "piece '" + piece.name + "' is already defined at " + it->second.pos.str());
}

const PieceDef* Compiler::find_piece(const std::string& name) const {
  auto it = pieces_.find(name);
  return it == pieces_.end() ? nullptr : &it->second;
}

Compiler::UseGuard::UseGuard(Compiler& c, const std::string& name, const Node& at) : compiler(c) {
  auto& stack = c.use_stack_;
  if (std::find(stack.begin(), stack.end(), name) != stack.end())
    throw CheckError(at.pos(), "reference",
                     "piece '" + name + "' uses itself (through " + stack.front() + ")");
  stack.push_back(name);
}

Compiler::UseGuard::~UseGuard() { compiler.use_stack_.pop_back(); }

}  // namespace chainconv
