#include "ops/predicate.h"

#include <algorithm>

#include "dsl/compiler.h"
#include "program/program.h"

namespace chainconv {

const std::vector<std::string_view>& predicate_kinds() {
  static const std::vector<std::string_view> kinds = {"present", "absent", "all",  "any",
                                                      "not",     "ndim",   "size", "param"};
  return kinds;
}

// `param: NAME` (a bool parameter is true) or `param: {name: NAME, is: VALUE}`.
static void parse_param_test(Predicate& p, const Node& arg, const Compiler& c) {
  // Never assign a Node: yaml-cpp nodes assign through to the document.
  if (arg.is_map()) arg.allow_only({"name", "is"}, "'param'");
  const Node name_node = arg.is_map() ? arg.required("name", "'param'") : arg;
  const std::string name = name_node.str("a parameter name");
  p.param = c.params().index_of(name);
  if (p.param < 0)
    throw CheckError(
        name_node.pos(), "reference",
        "unknown parameter '" + name + "' (the chain declares: " + c.params().names() + ")");
  const ParamDecl& decl = c.params().decls[static_cast<size_t>(p.param)];
  if (!arg.is_map()) {
    if (decl.type != ParamType::boolean)
      throw CheckError(name_node.pos(), "schema",
                       "'param: " + name + "' tests a bool parameter; '" + name + "' is " +
                           std::string(param_type_name(decl.type)) +
                           ": write 'param: {name: " + name + ", is: VALUE}'");
    return;
  }
  const Node is = arg.required("is", "'param'");
  if (decl.type == ParamType::int_list)
    throw CheckError(is.pos(), "schema",
                     "parameter '" + name +
                         "' is an int_list; 'param' compares int, bool and string parameters");
  try {
    p.is = parse_param_value(decl, is.str("a value"));
  } catch (const CheckError&) {
    throw;
  } catch (const Error& e) {
    throw CheckError(is.pos(), "schema", e.message());
  }
}

Predicate Predicate::parse(const Node& node, const Compiler& c) {
  auto entries =
      node.entries("a predicate (one of: present, absent, all, any, not, ndim, size, param)");
  if (entries.size() != 1)
    throw node.error(
        "a predicate has exactly one key (present, absent, all, any, not, ndim, size, param)");
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
    p.expected = c.integer(arg.required("is", "'" + name + "'"));
    if (p.kind == Kind::size) p.dim = c.integer(arg.required("dim", "'size'"));
  } else if (name == "param") {
    p.kind = Kind::param;
    parse_param_test(p, arg, c);
  } else {
    throw head.error("unknown predicate '" + name +
                     "' (expected one of: present, absent, all, any, not, ndim, size, param)");
  }
  return p;
}

bool Predicate::eval(const KeyIndex& dict, const Program& program, const Bindings& scope,
                     const ParamEnv& params) const {
  switch (kind) {
    case Kind::present:
      return key->any_match(dict, scope);
    case Kind::absent:
      return !key->any_match(dict, scope);
    case Kind::all:
      return std::all_of(operands.begin(), operands.end(),
                         [&](const Predicate& p) { return p.eval(dict, program, scope, params); });
    case Kind::any:
      return std::any_of(operands.begin(), operands.end(),
                         [&](const Predicate& p) { return p.eval(dict, program, scope, params); });
    case Kind::negate:
      return !operands.front().eval(dict, program, scope, params);
    case Kind::param:
      return params.param(param, pos) == is;
    case Kind::ndim:
    case Kind::size: {
      const int64_t expected_size = expected.value(params), at = dim.value(params);
      for (const TemplateMatch& m : key->matches(dict, scope)) {
        const TensorDesc& t = program.desc(m.slot);
        if (kind == Kind::ndim && t.dim() == expected_size) return true;
        if (kind == Kind::size) {
          int64_t d = at < 0 ? at + t.dim() : at;
          if (d >= 0 && d < t.dim() && t.shape[d] == expected_size) return true;
        }
      }
      return false;
    }
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
