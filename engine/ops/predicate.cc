#include "ops/predicate.h"

#include <algorithm>

#include "dsl/compiler.h"
#include "program/program.h"

namespace chainconv {

const std::vector<std::string_view>& predicate_kinds() {
  static const std::vector<std::string_view> kinds = {"present", "absent", "all", "any",
                                                      "not",     "ndim",   "size"};
  return kinds;
}

Predicate Predicate::parse(const Node& node, const Compiler& c) {
  auto entries = node.entries("a predicate (one of: present, absent, all, any, not, ndim, size)");
  if (entries.size() != 1)
    throw node.error(
        "a predicate has exactly one key (present, absent, all, any, not, ndim, size)");
  const auto& [head, arg] = entries.front();
  std::string name = head.str();
  Predicate p;
  p.pos = head.pos();
  if (name == "present" || name == "absent") {
    p.kind = name == "present" ? Kind::present : Kind::absent;
    p.key = c.key(arg);
  } else if (name == "all" || name == "any") {
    p.kind = name == "all" ? Kind::all : Kind::any;
    for (const Node& item : arg.list("a list of predicates")) p.operands.push_back(parse(item, c));
    if (p.operands.empty()) throw arg.error("'" + name + "' needs at least one predicate");
  } else if (name == "not") {
    p.kind = Kind::negate;
    p.operands.push_back(parse(arg, c));
  } else if (name == "ndim" || name == "size") {
    p.kind = name == "ndim" ? Kind::ndim : Kind::size;
    std::vector<std::string> fields = {"key", "is"};
    if (p.kind == Kind::size) fields.push_back("dim");
    arg.allow_only(fields, "'" + name + "'");
    Node key = arg.required("key", "'" + name + "'");
    p.key = c.key(key);
    p.expected = arg.required("is", "'" + name + "'").integer();
    if (p.kind == Kind::size) p.dim = arg.required("dim", "'size'").integer();
  } else {
    throw head.error("unknown predicate '" + name +
                     "' (expected one of: present, absent, all, any, not, ndim, size)");
  }
  return p;
}

bool Predicate::eval(const KeyIndex& dict, const Program& program, const Bindings& scope) const {
  switch (kind) {
    case Kind::present:
      return key->any_match(dict, scope);
    case Kind::absent:
      return !key->any_match(dict, scope);
    case Kind::all:
      return std::all_of(operands.begin(), operands.end(),
                         [&](const Predicate& p) { return p.eval(dict, program, scope); });
    case Kind::any:
      return std::any_of(operands.begin(), operands.end(),
                         [&](const Predicate& p) { return p.eval(dict, program, scope); });
    case Kind::negate:
      return !operands.front().eval(dict, program, scope);
    case Kind::ndim:
    case Kind::size:
      for (const TemplateMatch& m : key->matches(dict, scope)) {
        const TensorDesc& t = program.desc(m.slot);
        if (kind == Kind::ndim && t.dim() == expected) return true;
        if (kind == Kind::size) {
          int64_t d = dim < 0 ? dim + t.dim() : dim;
          if (d >= 0 && d < t.dim() && t.shape[d] == expected) return true;
        }
      }
      return false;
  }
  return false;
}

void Predicate::templates(std::vector<const KeyTemplate*>& out) const {
  if (key) out.push_back(&*key);
  for (const Predicate& p : operands) p.templates(out);
}

std::vector<std::string> Predicate::placeholder_names() const {
  std::vector<const KeyTemplate*> all;
  templates(all);
  std::vector<std::string> names;
  for (const KeyTemplate* t : all)
    for (const std::string& n : t->placeholder_names())
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  return names;
}

}  // namespace chainconv
