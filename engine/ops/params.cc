#include "ops/params.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <limits>

#include "core/text.h"
#include "dsl/node.h"

namespace chainconv {

std::string_view param_type_name(ParamType type) {
  switch (type) {
    case ParamType::integer:
      return "int";
    case ParamType::boolean:
      return "bool";
    case ParamType::string:
      return "string";
    case ParamType::int_list:
      return "int_list";
  }
  return "?";
}

ParamType type_of(const ParamValue& value) {
  switch (value.index()) {
    case 0:
      return ParamType::integer;
    case 1:
      return ParamType::boolean;
    case 2:
      return ParamType::string;
    default:
      return ParamType::int_list;
  }
}

std::string param_value_str(const ParamValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  std::string out = "[";
  for (int64_t v : std::get<std::vector<int64_t>>(value))
    out += (out.size() > 1 ? ", " : "") + std::to_string(v);
  return out + "]";
}

struct IntExpr {
  enum class Kind { literal, param, config, index, neg, binary };
  Kind kind = Kind::literal;
  int64_t value = 0;  // literal; index: the position
  int ref = -1;       // param or config index
  char op = 0;        // binary: + - * / %
  std::string name;   // the reference as written, for messages
  std::shared_ptr<const IntExpr> a, b;
};

namespace {

using ExprPtr = std::shared_ptr<const IntExpr>;
constexpr int kMaxDepth = 100;

[[noreturn]] void fail_at(const Position& pos, const std::string& check,
                          const std::string& message) {
  throw CheckError(pos, check, message);
}

class Parser {
 public:
  Parser(ParamTable& table, const std::string& text, const Position& pos, bool allow_params)
      : table_(table), text_(text), pos_(pos), allow_params_(allow_params) {}

  ExprPtr parse() {
    ExprPtr e = sum();
    skip_space();
    if (at_ < text_.size()) fail("unexpected '" + std::string(1, text_[at_]) + "'");
    return e;
  }

  // The text as one ${...} reference; nullptr otherwise.
  ExprPtr reference_only() {
    skip_space();
    if (text_.compare(at_, 2, "${") != 0) return nullptr;
    const size_t end = text_.find('}', at_);
    if (end == std::string::npos || text_.find_first_not_of(" \t", end + 1) != std::string::npos)
      return nullptr;
    return make(reference());
  }

 private:
  [[noreturn]] void fail(const std::string& message, const std::string& check = "schema") const {
    fail_at(pos_, check,
            message + " in expression '" + text_ + "' (at character " + std::to_string(at_ + 1) +
                "; expected integer arithmetic: + - * / % ( ) on integers, ${param} and "
                "${config.field})");
  }
  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  bool accept(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  ExprPtr make(IntExpr node) { return std::make_shared<const IntExpr>(std::move(node)); }

  ExprPtr sum() {
    Nested guard(*this);
    ExprPtr left = product();
    while (true) {
      char op = 0;
      if (accept('+'))
        op = '+';
      else if (accept('-'))
        op = '-';
      else
        return left;
      left = make({IntExpr::Kind::binary, 0, -1, op, {}, left, product()});
    }
  }
  ExprPtr product() {
    ExprPtr left = unary();
    while (true) {
      char op = 0;
      if (accept('*'))
        op = '*';
      else if (accept('/'))
        op = '/';
      else if (accept('%'))
        op = '%';
      else
        return left;
      left = make({IntExpr::Kind::binary, 0, -1, op, {}, left, unary()});
    }
  }
  ExprPtr unary() {
    if (accept('-')) {
      Nested guard(*this);
      return make({IntExpr::Kind::neg, 0, -1, 0, {}, unary(), nullptr});
    }
    if (accept('+')) return unary();
    return primary();
  }
  ExprPtr primary() {
    skip_space();
    if (at_ >= text_.size()) fail("unexpected end");
    const char c = text_[at_];
    if (c == '(') {
      ++at_;
      ExprPtr inner = sum();
      if (!accept(')')) fail("expected ')'");
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      int64_t value = 0;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
        const int digit = text_[at_++] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
          fail("an integer too large");
        value = value * 10 + digit;
      }
      return make({IntExpr::Kind::literal, value, -1, 0, {}, nullptr, nullptr});
    }
    if (text_.compare(at_, 2, "${") == 0) {
      const size_t ref_start = at_;
      IntExpr ref = reference();
      const bool list =
          ref.kind == IntExpr::Kind::param && table_.decls[ref.ref].type == ParamType::int_list;
      if (ref.kind == IntExpr::Kind::param && !list &&
          table_.decls[ref.ref].type != ParamType::integer) {
        at_ = ref_start;
        fail("parameter '" + ref.name + "' is a " +
             std::string(param_type_name(table_.decls[ref.ref].type)) + ", not an int");
      }
      ExprPtr node = make(std::move(ref));
      if (accept('[')) {
        skip_space();
        int64_t index = 0;
        size_t digits = 0;
        while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])) &&
               digits < 9) {
          index = index * 10 + (text_[at_++] - '0');
          ++digits;
        }
        if (digits == 0) fail("expected a constant index");
        if (!accept(']')) fail("expected ']'");
        if (node->kind == IntExpr::Kind::param && !list)
          fail("parameter '" + node->name + "' is an int, not an int list");
        return make({IntExpr::Kind::index, index, -1, 0, node->name, node, nullptr});
      }
      if (list) fail("parameter '" + node->name + "' is an int list; take one entry: [i]");
      return node;
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  // ${name} or ${config.a.b}.
  IntExpr reference() {
    const size_t start = at_;
    const size_t end = text_.find('}', at_);
    if (end == std::string::npos) fail("'${' without a closing '}'");
    const std::string name = text_.substr(at_ + 2, end - at_ - 2);
    at_ = end + 1;
    auto valid = [](const std::string& part) {
      if (part.empty() || std::isdigit(static_cast<unsigned char>(part[0]))) return false;
      for (char ch : part)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
      return true;
    };
    IntExpr ref;
    ref.name = name;
    if (name.rfind("config.", 0) == 0) {
      std::string path = name.substr(7);
      for (size_t i = 0, next; i <= path.size(); i = next + 1) {
        next = path.find('.', i);
        if (next == std::string::npos) next = path.size();
        if (!valid(path.substr(i, next - i))) {
          at_ = start;
          fail("'" + name + "' is not a config path (config.field, config.section.field)");
        }
      }
      ref.kind = IntExpr::Kind::config;
      ref.ref = table_.config_index(path);
      return ref;
    }
    at_ = start;
    if (!valid(name)) fail("'${" + name + "}' is not a parameter name");
    if (!allow_params_)
      fail("a default reads config values only, not parameter '" + name + "'", "reference");
    const int index = table_.index_of(name);
    if (index < 0)
      fail("unknown parameter '" + name + "' (the chain declares: " + table_.names() + ")",
           "reference");
    at_ = end + 1;
    ref.kind = IntExpr::Kind::param;
    ref.ref = index;
    return ref;
  }

  struct Nested {
    explicit Nested(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) parser.fail("nests too deep");
    }
    ~Nested() { --parser.depth_; }
    Parser& parser;
  };

  ParamTable& table_;
  const std::string& text_;
  const Position& pos_;
  bool allow_params_;
  size_t at_ = 0;
  int depth_ = 0;
};

[[noreturn]] void eval_error(const Position& pos, const std::string& text,
                             const std::string& message) {
  throw Error(pos, message + " (evaluating '" + text + "')");
}

int64_t as_int(const ParamValue& v, const IntExpr& ref, const Position& pos,
               const std::string& text) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  eval_error(pos, text,
             "'" + ref.name + "' is " + std::string(param_type_name(type_of(v))) + " " +
                 param_value_str(v) + ", not an int");
}

const std::vector<int64_t>& as_list(const ParamValue& v, const IntExpr& ref, const Position& pos,
                                    const std::string& text) {
  if (const auto* l = std::get_if<std::vector<int64_t>>(&v)) return *l;
  eval_error(pos, text,
             "'" + ref.name + "' is " + std::string(param_type_name(type_of(v))) + " " +
                 param_value_str(v) + ", not an int list");
}

const ParamValue& lookup(const IntExpr& ref, const ParamEnv& env, const Position& pos) {
  return ref.kind == IntExpr::Kind::param ? env.param(ref.ref, pos) : env.config(ref.ref, pos);
}

int64_t eval(const IntExpr& e, const ParamEnv& env, const Position& pos, const std::string& text) {
  switch (e.kind) {
    case IntExpr::Kind::literal:
      return e.value;
    case IntExpr::Kind::param:
    case IntExpr::Kind::config:
      return as_int(lookup(e, env, pos), e, pos, text);
    case IntExpr::Kind::index: {
      const std::vector<int64_t>& list = as_list(lookup(*e.a, env, pos), *e.a, pos, text);
      if (e.value >= static_cast<int64_t>(list.size()))
        eval_error(pos, text,
                   "'" + e.name + "' has " + std::to_string(list.size()) + " entries, no [" +
                       std::to_string(e.value) + "]");
      return list[static_cast<size_t>(e.value)];
    }
    case IntExpr::Kind::neg: {
      const int64_t v = eval(*e.a, env, pos, text);
      if (v == std::numeric_limits<int64_t>::min()) eval_error(pos, text, "integer overflow");
      return -v;
    }
    case IntExpr::Kind::binary: {
      const int64_t a = eval(*e.a, env, pos, text), b = eval(*e.b, env, pos, text);
      int64_t r = 0;
      switch (e.op) {
        case '+':
          if (__builtin_add_overflow(a, b, &r)) eval_error(pos, text, "integer overflow");
          return r;
        case '-':
          if (__builtin_sub_overflow(a, b, &r)) eval_error(pos, text, "integer overflow");
          return r;
        case '*':
          if (__builtin_mul_overflow(a, b, &r)) eval_error(pos, text, "integer overflow");
          return r;
        default: {
          if (b == 0) eval_error(pos, text, "division by zero");
          if (a == std::numeric_limits<int64_t>::min() && b == -1)
            eval_error(pos, text, "integer overflow");
          int64_t q = a / b, m = a % b;
          if (m != 0 && ((m < 0) != (b < 0))) {  // floor, as Python (and layout files) do
            --q;
            m += b;
          }
          return e.op == '/' ? q : m;
        }
      }
    }
  }
  return 0;
}

// A config.json value as a parameter value, or why it cannot be one.
std::optional<ParamValue> from_json(const nlohmann::json& v) {
  if (v.is_boolean()) return ParamValue(v.get<bool>());
  if (v.is_number_integer()) return ParamValue(v.get<int64_t>());
  if (v.is_string()) return ParamValue(v.get<std::string>());
  if (v.is_array()) {
    std::vector<int64_t> list;
    for (const auto& item : v) {
      if (!item.is_number_integer()) return std::nullopt;
      list.push_back(item.get<int64_t>());
    }
    return ParamValue(std::move(list));
  }
  return std::nullopt;
}

}  // namespace

IntArg::IntArg(Position pos, std::string text, std::shared_ptr<const IntExpr> expr)
    : pos_(std::move(pos)), text_(std::move(text)), expr_(std::move(expr)) {}

int64_t IntArg::value(const ParamEnv& env) const {
  return expr_ ? eval(*expr_, env, pos_, text_) : constant_;
}

IntListArg::IntListArg(Position pos, std::string text, std::shared_ptr<const IntExpr> whole)
    : pos_(std::move(pos)), text_(std::move(text)), whole_(std::move(whole)) {}

std::vector<int64_t> IntListArg::value(const ParamEnv& env) const {
  if (whole_) return as_list(lookup(*whole_, env, pos_), *whole_, pos_, text_);
  std::vector<int64_t> out;
  out.reserve(items_.size());
  for (const IntArg& item : items_) out.push_back(item.value(env));
  return out;
}

const ParamDecl* ParamTable::find(const std::string& name) const {
  const int i = index_of(name);
  return i < 0 ? nullptr : &decls[static_cast<size_t>(i)];
}

int ParamTable::index_of(const std::string& name) const {
  for (size_t i = 0; i < decls.size(); ++i)
    if (decls[i].name == name) return static_cast<int>(i);
  return -1;
}

int ParamTable::config_index(const std::string& path) {
  for (size_t i = 0; i < config_paths.size(); ++i)
    if (config_paths[i] == path) return static_cast<int>(i);
  config_paths.push_back(path);
  return static_cast<int>(config_paths.size() - 1);
}

std::string ParamTable::names() const {
  std::vector<std::string> all;
  for (const ParamDecl& d : decls) all.push_back(d.name);
  return all.empty() ? "none" : join(all);
}

std::shared_ptr<const IntExpr> ParamTable::parse_int(const std::string& text, const Position& pos,
                                                     bool allow_params) {
  return Parser(*this, text, pos, allow_params).parse();
}

std::shared_ptr<const IntExpr> ParamTable::parse_reference(const std::string& text,
                                                           const Position& pos, bool allow_params) {
  return Parser(*this, text, pos, allow_params).reference_only();
}

std::optional<ParamType> ParamTable::type_of_reference(const IntExpr& ref) const {
  if (ref.kind != IntExpr::Kind::param) return std::nullopt;
  return decls.at(static_cast<size_t>(ref.ref)).type;
}

namespace {

bool reads_anything(const IntExpr& e) {
  if (e.kind == IntExpr::Kind::param || e.kind == IntExpr::Kind::config) return true;
  return (e.a && reads_anything(*e.a)) || (e.b && reads_anything(*e.b));
}

bool plain_integer(const std::string& text, int64_t& out) {
  try {
    size_t used = 0;
    out = std::stoll(text, &used);
    return used == text.size() && !text.empty() &&
           !std::isspace(static_cast<unsigned char>(text[0]));
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

IntArg IntArg::parse(ParamTable& table, const std::string& text, const Position& pos,
                     const std::string& what) {
  int64_t constant = 0;
  if (plain_integer(text, constant)) return IntArg(constant);
  if (text.find_first_of("${}()+-*/%") == std::string::npos)
    throw CheckError(pos, "schema", "expected " + what + ", found '" + text + "'");
  std::shared_ptr<const IntExpr> expr = table.parse_int(text, pos);
  if (!reads_anything(*expr)) return IntArg(eval(*expr, no_params(), pos, text));
  return IntArg(pos, text, std::move(expr));
}

void parse_param_decl(const Node& name_node, const Node& body, ParamTable& table) {
  ParamDecl decl;
  decl.name = name_node.str("a parameter name");
  decl.pos = name_node.pos();
  const std::string context = "parameter '" + decl.name + "'";
  bool valid = !decl.name.empty() && !std::isdigit(static_cast<unsigned char>(decl.name[0])) &&
               decl.name != "config";
  for (char ch : decl.name) valid &= std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  if (!valid)
    throw CheckError(
        decl.pos, "schema",
        "'" + decl.name + "' is not a parameter name (letters, digits and '_', not 'config')");
  if (const ParamDecl* earlier = table.find(decl.name))
    throw CheckError(decl.pos, "reference",
                     "parameter '" + decl.name + "' is already declared at " + earlier->pos.str());
  body.allow_only({"type", "default", "doc", "values"}, context);
  const Node type = body.required("type", context);
  const std::string type_name = type.str("a parameter type");
  static const ParamType kTypes[] = {ParamType::integer, ParamType::boolean, ParamType::string,
                                     ParamType::int_list};
  bool known = false;
  for (ParamType t : kTypes)
    if (type_name == param_type_name(t)) {
      decl.type = t;
      known = true;
    }
  if (!known)
    throw type.error("unknown parameter type '" + type_name +
                     "' (expected one of: int, bool, string, int_list)");
  const Node doc = body.required("doc", context);
  if (!doc.is_scalar()) throw doc.error("expected a description");
  decl.doc = doc.yaml().Scalar();
  if (body.has("values")) {
    const Node values = body["values"];
    if (decl.type != ParamType::string)
      throw values.error("'values' lists the choices of a string parameter; '" + decl.name +
                         "' is " + type_name);
    for (const Node& v : values.list("a list of the values it may take"))
      decl.values.push_back(v.str("a value"));
    if (decl.values.empty()) throw values.error("'values' needs at least one value");
  }
  const Node def = body.required("default", context);
  if (def.is_list()) {
    if (decl.type != ParamType::int_list)
      throw def.error("expected a " + type_name + " default, found a list");
    std::vector<int64_t> list;
    for (const Node& item : def.list()) list.push_back(item.integer("an integer"));
    decl.default_value = std::move(list);
  } else {
    const std::string text = def.expression_text("a default value");
    decl.default_text = text;
    if (std::shared_ptr<const IntExpr> ref = table.parse_reference(text, def.pos(), false)) {
      decl.default_expr = std::move(ref);
    } else if (decl.type == ParamType::integer && text.find("${") != std::string::npos) {
      decl.default_expr = table.parse_int(text, def.pos(), false);
    } else {
      try {
        decl.default_value = parse_param_value(decl, text);
      } catch (const Error& e) {
        throw CheckError(def.pos(), "schema", "the default of " + e.message());
      }
    }
  }
  table.decls.push_back(std::move(decl));
}

ParamValue parse_param_value(const ParamDecl& decl, const std::string& text) {
  auto bad = [&](const std::string& expected) -> Error {
    return Error("parameter '" + decl.name + "' (declared at " + decl.pos.str() + ") is " +
                 std::string(param_type_name(decl.type)) + ": expected " + expected + ", found '" +
                 text + "'");
  };
  auto integer = [&](const std::string& s, int64_t& out) {
    try {
      size_t used = 0;
      out = std::stoll(s, &used);
      return used == s.size() && !s.empty();
    } catch (const std::exception&) {
      return false;
    }
  };
  switch (decl.type) {
    case ParamType::integer: {
      int64_t v = 0;
      if (!integer(text, v)) throw bad("an integer");
      return v;
    }
    case ParamType::boolean:
      if (text == "true") return true;
      if (text == "false") return false;
      throw bad("true or false");
    case ParamType::string:
      if (!decl.values.empty() &&
          std::find(decl.values.begin(), decl.values.end(), text) == decl.values.end())
        throw bad("one of: " + join(decl.values));
      return text;
    case ParamType::int_list: {
      std::string body = text;
      if (body.size() >= 2 && body.front() == '[' && body.back() == ']')
        body = body.substr(1, body.size() - 2);
      std::vector<int64_t> list;
      for (size_t i = 0, next; i <= body.size(); i = next + 1) {
        next = body.find(',', i);
        if (next == std::string::npos) next = body.size();
        std::string item = body.substr(i, next - i);
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item.empty() && list.empty() && next == body.size()) break;
        int64_t v = 0;
        if (!integer(item, v)) throw bad("integers separated by commas, e.g. 128,128");
        list.push_back(v);
      }
      return list;
    }
  }
  throw bad("a value");
}

ParamEnv::ParamEnv(const ParamTable& table, const Options& options) : table_(&table) {
  for (const auto& [name, text] : options.params)
    if (!table.find(name))
      throw Error("the chain has no parameter '" + name + "' (its parameters: " + table.names() +
                  ")");
  bool needs_config = !table.config_paths.empty();
  nlohmann::json parsed;
  const bool have_config = !options.config.empty();
  if (needs_config && have_config) {
    parsed = nlohmann::json::parse(options.config, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object())
      throw Error("the config given (Options::config) is not a JSON object");
  }
  config_.resize(table.config_paths.size());
  for (size_t i = 0; i < table.config_paths.size(); ++i) {
    const std::string& path = table.config_paths[i];
    Slot& slot = config_[i];
    if (!have_config) {
      slot.missing = "this reads config.json ('" + path +
                     "') but no config was given (the checkpoint's config.json, chainlint "
                     "--config, Options::config, or config= in Python)";
      continue;
    }
    const nlohmann::json* at = &parsed;
    for (size_t s = 0, next; s <= path.size() && at; s = next + 1) {
      next = path.find('.', s);
      if (next == std::string::npos) next = path.size();
      const std::string field = path.substr(s, next - s);
      auto it = at->is_object() ? at->find(field) : at->end();
      at = at->is_object() && it != at->end() ? &*it : nullptr;
    }
    if (!at) {
      slot.missing = "config.json has no field '" + path + "'";
      continue;
    }
    slot.value = from_json(*at);
    if (!slot.value)
      slot.missing = "config.json field '" + path + "' is " + at->dump() +
                     ", not an int, bool, string or list of ints";
  }
  params_.resize(table.decls.size());
  for (size_t i = 0; i < table.decls.size(); ++i) {
    const ParamDecl& decl = table.decls[i];
    Slot& slot = params_[i];
    auto given = options.params.find(decl.name);
    if (given != options.params.end()) {
      slot.value = parse_param_value(decl, given->second);
    } else if (decl.default_value) {
      slot.value = decl.default_value;
    } else if (decl.default_expr) {
      try {
        const Position at = decl.pos;
        if (decl.type == ParamType::integer) {
          slot.value = eval(*decl.default_expr, *this, at, decl.default_text);
        } else {
          const ParamValue& v = this->config(decl.default_expr->ref, at);
          if (type_of(v) != decl.type)
            throw Error(at, "parameter '" + decl.name + "' is " +
                                std::string(param_type_name(decl.type)) + " but its default " +
                                decl.default_text + " is " + param_value_str(v));
          slot.value = v;
        }
      } catch (const Error& e) {
        slot.missing = e.message() + " (the default of parameter '" + decl.name +
                       "', declared at " + decl.pos.str() + "; or set it)";
      }
    }
  }
}

const ParamValue& ParamEnv::param(int index, const Position& use) const {
  const Slot& slot = params_.at(static_cast<size_t>(index));
  if (!slot.value) throw Error(use, slot.missing);
  return *slot.value;
}

const ParamValue& ParamEnv::config(int index, const Position& use) const {
  const Slot& slot = config_.at(static_cast<size_t>(index));
  if (!slot.value) throw Error(use, slot.missing);
  return *slot.value;
}

const ParamEnv& no_params() {
  static const ParamEnv empty;
  return empty;
}

}  // namespace chainconv
