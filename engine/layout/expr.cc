#include "layout/expr.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <vector>

#include "core/error.h"

namespace chainconv {

using json = nlohmann::json;

struct ExprNode {
  enum class Kind {
    literal,
    name,
    member,
    index,
    call,
    neg,
    negate,
    binary,
    and_,
    or_,
    cond,
    list
  };
  Kind kind = Kind::literal;
  json value;        // literal
  std::string name;  // name, member field, call function, binary operator
  std::vector<std::shared_ptr<const ExprNode>> args;
  int depth = 1;  // of the tree below and including this node
};

namespace {

using NodePtr = std::shared_ptr<const ExprNode>;

// Parsing, evaluating and freeing a tree all recurse along its depth, and range() builds its
// list: real layout expressions nest a few levels and loop over a few hundred layers or
// experts, so far larger ones are mistakes (or attacks) and are refused, not run.
constexpr int kMaxDepth = 100;
constexpr int64_t kMaxRange = 1 << 20;

// A value in a message. Strings from the expression text may hold any bytes; nlohmann's
// dump() throws on invalid UTF-8, so replace those instead.
std::string show(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

struct Token {
  enum class Kind { end, ident, number, string, op };
  Kind kind = Kind::end;
  std::string text;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& where) : text_(text), where_(where) { next(); }

  NodePtr parse() {
    NodePtr node = conditional();
    if (tok_.kind != Token::Kind::end) fail("unexpected '" + tok_.text + "'");
    return node;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(where_ + ": " + message + " in expression '" + text_ + "'");
  }

  void next() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    tok_ = Token{};
    if (pos_ >= text_.size()) return;
    char c = text_[pos_];
    size_t start = pos_;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
        ++pos_;
      tok_ = {Token::Kind::ident, text_.substr(start, pos_ - start)};
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      tok_ = {Token::Kind::number, text_.substr(start, pos_ - start)};
    } else if (c == '\'' || c == '"') {
      size_t end = text_.find(c, pos_ + 1);
      if (end == std::string::npos) fail("unterminated string");
      tok_ = {Token::Kind::string, text_.substr(pos_ + 1, end - pos_ - 1)};
      pos_ = end + 1;
    } else {
      static const char* const two[] = {"//", "==", "!=", "<=", ">="};
      for (const char* op : two)
        if (text_.compare(pos_, 2, op) == 0) {
          tok_ = {Token::Kind::op, op};
          pos_ += 2;
          return;
        }
      if (std::string("()[],.+-*%<>").find(c) == std::string::npos)
        fail(std::string("unexpected character '") + c + "'");
      tok_ = {Token::Kind::op, std::string(1, c)};
      ++pos_;
    }
  }

  bool accept(const std::string& text) {
    if ((tok_.kind == Token::Kind::op || tok_.kind == Token::Kind::ident) && tok_.text == text) {
      next();
      return true;
    }
    return false;
  }
  void expect(const std::string& text) {
    if (!accept(text))
      fail("expected '" + text + "'" +
           (tok_.kind == Token::Kind::end ? " at the end" : ", found '" + tok_.text + "'"));
  }

  // Counts the parser's own recursion (parentheses, lists, calls, chained `if`, `not`, `-`).
  struct Nested {
    explicit Nested(Parser& p) : parser(p) {
      if (++parser.nesting_ > kMaxDepth) parser.too_deep();
    }
    ~Nested() { --parser.nesting_; }
    Parser& parser;
  };
  [[noreturn]] void too_deep() const {
    fail("nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  NodePtr make(ExprNode::Kind kind, std::vector<NodePtr> args, std::string name = {},
               json value = {}) const {
    int depth = 0;
    for (const NodePtr& arg : args) depth = std::max(depth, arg->depth);
    if (depth + 1 > kMaxDepth) too_deep();
    auto node = std::make_shared<ExprNode>();
    node->depth = depth + 1;
    node->kind = kind;
    node->args = std::move(args);
    node->name = std::move(name);
    node->value = std::move(value);
    return node;
  }

  NodePtr conditional() {
    Nested nested(*this);
    NodePtr then_value = logical_or();
    if (!accept("if")) return then_value;
    NodePtr condition = logical_or();
    expect("else");
    return make(ExprNode::Kind::cond, {condition, then_value, conditional()});
  }
  NodePtr logical_or() {
    NodePtr left = logical_and();
    while (accept("or")) left = make(ExprNode::Kind::or_, {left, logical_and()});
    return left;
  }
  NodePtr logical_and() {
    NodePtr left = logical_not();
    while (accept("and")) left = make(ExprNode::Kind::and_, {left, logical_not()});
    return left;
  }
  NodePtr logical_not() {
    if (accept("not")) {
      Nested nested(*this);
      return make(ExprNode::Kind::negate, {logical_not()});
    }
    return comparison();
  }
  NodePtr comparison() {
    NodePtr left = sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">", "in"})
      if (accept(op)) return make(ExprNode::Kind::binary, {left, sum()}, op);
    if (tok_.kind == Token::Kind::ident && tok_.text == "not") {
      next();
      expect("in");
      return make(ExprNode::Kind::negate, {make(ExprNode::Kind::binary, {left, sum()}, "in")});
    }
    return left;
  }
  NodePtr sum() {
    NodePtr left = term();
    for (;;) {
      if (accept("+"))
        left = make(ExprNode::Kind::binary, {left, term()}, "+");
      else if (accept("-"))
        left = make(ExprNode::Kind::binary, {left, term()}, "-");
      else
        return left;
    }
  }
  NodePtr term() {
    NodePtr left = unary();
    for (;;) {
      if (accept("*"))
        left = make(ExprNode::Kind::binary, {left, unary()}, "*");
      else if (accept("//"))
        left = make(ExprNode::Kind::binary, {left, unary()}, "//");
      else if (accept("%"))
        left = make(ExprNode::Kind::binary, {left, unary()}, "%");
      else
        return left;
    }
  }
  NodePtr unary() {
    if (accept("-")) {
      Nested nested(*this);
      return make(ExprNode::Kind::neg, {unary()});
    }
    return postfix();
  }
  NodePtr postfix() {
    NodePtr node = primary();
    for (;;) {
      if (accept(".")) {
        if (tok_.kind != Token::Kind::ident) fail("expected a field name after '.'");
        std::string field = tok_.text;
        next();
        node = make(ExprNode::Kind::member, {node}, field);
      } else if (accept("[")) {
        NodePtr index = conditional();
        expect("]");
        node = make(ExprNode::Kind::index, {node, index});
      } else if (tok_.kind == Token::Kind::op && tok_.text == "(") {
        if (node->kind != ExprNode::Kind::name) fail("only named functions can be called");
        next();
        std::vector<NodePtr> args;
        if (!accept(")")) {
          do args.push_back(conditional());
          while (accept(","));
          expect(")");
        }
        node = make(ExprNode::Kind::call, std::move(args), node->name);
      } else {
        return node;
      }
    }
  }
  NodePtr primary() {
    Token t = tok_;
    switch (t.kind) {
      case Token::Kind::end:
        fail("unexpected end");
      case Token::Kind::number:
        next();
        if (t.text.size() > 18) fail("number " + t.text + " is too large");
        return make(ExprNode::Kind::literal, {}, {}, json(std::stoll(t.text)));
      case Token::Kind::string:
        next();
        return make(ExprNode::Kind::literal, {}, {}, json(t.text));
      case Token::Kind::ident:
        next();
        if (t.text == "true" || t.text == "false")
          return make(ExprNode::Kind::literal, {}, {}, json(t.text == "true"));
        if (t.text == "null") return make(ExprNode::Kind::literal, {}, {}, json());
        for (const char* word : {"and", "or", "not", "in", "if", "else"})
          if (t.text == word) fail("unexpected '" + t.text + "'");
        return make(ExprNode::Kind::name, {}, t.text);
      case Token::Kind::op:
        if (accept("(")) {
          NodePtr inner = conditional();
          expect(")");
          return inner;
        }
        if (accept("[")) {
          std::vector<NodePtr> items;
          if (!accept("]")) {
            do items.push_back(conditional());
            while (accept(","));
            expect("]");
          }
          return make(ExprNode::Kind::list, std::move(items));
        }
        fail("unexpected '" + t.text + "'");
    }
    fail("unexpected token");
  }

  const std::string& text_;
  const std::string& where_;
  size_t pos_ = 0;
  int nesting_ = 0;
  Token tok_;
};

class Evaluator {
 public:
  Evaluator(const ExprEnv& env, const std::string& text, const std::string& where)
      : env_(env), text_(text), where_(where) {}

  json eval(const ExprNode& n) const {
    using K = ExprNode::Kind;
    switch (n.kind) {
      case K::literal:
        return n.value;
      case K::name:
        return resolve(n.name);
      case K::member: {
        json object = eval(*n.args[0]);
        if (!object.is_object() || !object.contains(n.name))
          fail(env_.describe_missing(path_of(n)));
        return object[n.name];
      }
      case K::index:
        return index(eval(*n.args[0]), eval(*n.args[1]));
      case K::call:
        return call(n);
      case K::neg: {
        const int64_t x = integer(eval(*n.args[0]));
        if (x == INT64_MIN) fail("integer overflow in -(" + std::to_string(x) + ")");
        return -x;
      }
      case K::negate:
        return !truth(eval(*n.args[0]));
      case K::and_:
        return truth(eval(*n.args[0])) && truth(eval(*n.args[1]));
      case K::or_:
        return truth(eval(*n.args[0])) || truth(eval(*n.args[1]));
      case K::cond:
        return truth(eval(*n.args[0])) ? eval(*n.args[1]) : eval(*n.args[2]);
      case K::list: {
        json list = json::array();
        for (const auto& item : n.args) list.push_back(eval(*item));
        return list;
      }
      case K::binary:
        return binary(n.name, eval(*n.args[0]), eval(*n.args[1]));
    }
    fail("unknown expression node");
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(where_ + ": " + message + " (in '" + text_ + "')");
  }

  int64_t integer(const json& v) const {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail("integer " + show(v) + " is too large");
    if (v.is_number_integer()) return v.get<int64_t>();
    // A float converts only when it is a whole number int64 can hold (casting any other is
    // undefined).
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
          d == static_cast<double>(static_cast<int64_t>(d)))
        return static_cast<int64_t>(d);
    }
    fail("expected an integer, found " + show(v));
  }

  bool truth(const json& v) const {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_null()) return false;
    if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
    return false;
  }

 private:
  json resolve(const std::string& name) const {
    const json* found = env_.find(name);
    if (!found) fail(env_.describe_missing(name));
    return *found;
  }

  // "a.b.c" for a chain of names and members, for messages and has()/get().
  static std::string path_of(const ExprNode& n) {
    if (n.kind == ExprNode::Kind::name) return n.name;
    if (n.kind == ExprNode::Kind::member) return path_of(*n.args[0]) + "." + n.name;
    return "?";
  }

  // Looks up a dotted path; nullptr if any step is missing (or null).
  const json* lookup(const std::string& path) const {
    size_t dot = path.find('.');
    const json* at = env_.find(path.substr(0, dot));
    while (at && dot != std::string::npos) {
      size_t next = path.find('.', dot + 1);
      std::string field =
          path.substr(dot + 1, next == std::string::npos ? std::string::npos : next - dot - 1);
      at = at->is_object() && at->contains(field) ? &(*at)[field] : nullptr;
      dot = next;
    }
    return at && !at->is_null() ? at : nullptr;
  }

  json index(const json& container, const json& at) const {
    if (container.is_string() || container.is_array()) {
      int64_t i = integer(at);
      int64_t size = static_cast<int64_t>(
          container.is_string() ? container.get<std::string>().size() : container.size());
      if (i < 0 || i >= size)
        fail("index " + std::to_string(i) + " is out of range for " + show(container) + " (size " +
             std::to_string(size) + ")");
      if (container.is_string())
        return std::string(1, container.get<std::string>()[static_cast<size_t>(i)]);
      return container[static_cast<size_t>(i)];
    }
    if (container.is_object() && at.is_string()) {
      if (!container.contains(at.get<std::string>()))
        fail("no field '" + at.get<std::string>() + "'");
      return container[at.get<std::string>()];
    }
    fail("cannot index " + show(container) + " with " + show(at));
  }

  json call(const ExprNode& n) const {
    auto arity = [&](size_t lo, size_t hi) {
      if (n.args.size() < lo || n.args.size() > hi)
        fail(n.name + "() takes " + std::to_string(lo) +
             (lo == hi ? "" : " to " + std::to_string(hi)) + " arguments, given " +
             std::to_string(n.args.size()));
    };
    auto path_arg = [&]() {
      json path = eval(*n.args[0]);
      if (!path.is_string())
        fail(n.name + "() takes a field name in quotes, e.g. " + n.name + "('head_dim')");
      return path.get<std::string>();
    };
    if (n.name == "has") {
      arity(1, 1);
      return lookup(path_arg()) != nullptr;
    }
    if (n.name == "get") {
      arity(2, 2);
      const json* found = lookup(path_arg());
      return found ? *found : eval(*n.args[1]);
    }
    std::vector<json> a;
    for (const auto& arg : n.args) a.push_back(eval(*arg));
    if (n.name == "len") {
      arity(1, 1);
      if (a[0].is_string()) return static_cast<int64_t>(a[0].get<std::string>().size());
      if (a[0].is_array()) return static_cast<int64_t>(a[0].size());
      fail("len() of " + show(a[0]));
    }
    if (n.name == "range") {
      arity(1, 2);
      int64_t lo = a.size() == 2 ? integer(a[0]) : 0, hi = integer(a.back()), count = 0;
      if (hi > lo && (__builtin_sub_overflow(hi, lo, &count) || count > kMaxRange))
        fail("range(" + std::to_string(lo) + ", " + std::to_string(hi) + ") has more than " +
             std::to_string(kMaxRange) + " elements");
      json list = json::array();
      for (int64_t i = lo; i < hi; ++i) list.push_back(i);
      return list;
    }
    if (n.name == "ceil_div") {
      arity(2, 2);
      int64_t d = integer(a[1]);
      if (d <= 0) fail("ceil_div by " + std::to_string(d));
      int64_t x = integer(a[0]), sum = 0;
      if (__builtin_add_overflow(x, d - 1, &sum))
        fail("integer overflow in ceil_div(" + std::to_string(x) + ", " + std::to_string(d) + ")");
      return sum / d;
    }
    if (n.name == "min" || n.name == "max") {
      arity(2, 2);
      int64_t x = integer(a[0]), y = integer(a[1]);
      return n.name == "min" ? std::min(x, y) : std::max(x, y);
    }
    fail("unknown function '" + n.name + "' (known: has, get, len, range, ceil_div, min, max)");
  }

  json binary(const std::string& op, const json& l, const json& r) const {
    if (op == "==") return l == r;
    if (op == "!=") return l != r;
    if (op == "in") {
      if (r.is_array()) {
        for (const json& item : r)
          if (item == l) return true;
        return false;
      }
      if (r.is_string() && l.is_string())
        return r.get<std::string>().find(l.get<std::string>()) != std::string::npos;
      if (r.is_null()) return false;  // `x in mlp_only_layers` when the config says null
      fail("'in' needs a list or a string on its right, found " + show(r));
    }
    if (op == "+" && l.is_string() && r.is_string())
      return l.get<std::string>() + r.get<std::string>();
    int64_t x = integer(l), y = integer(r);
    if (op == "<") return x < y;
    if (op == "<=") return x <= y;
    if (op == ">") return x > y;
    if (op == ">=") return x >= y;
    int64_t result = 0;
    const bool overflow = op == "+"   ? __builtin_add_overflow(x, y, &result)
                          : op == "-" ? __builtin_sub_overflow(x, y, &result)
                          : op == "*" ? __builtin_mul_overflow(x, y, &result)
                                      : x == INT64_MIN && y == -1;  // // and %
    if (overflow)
      fail("integer overflow in " + std::to_string(x) + " " + op + " " + std::to_string(y));
    if (op == "+" || op == "-" || op == "*") return result;
    if ((op == "//" || op == "%") && y == 0) fail("division by zero");
    // Floor division and modulo, as Python does them (x - q * y could overflow).
    const bool round_down = x % y != 0 && (x < 0) != (y < 0);
    if (op == "//") return x / y - (round_down ? 1 : 0);
    return x % y + (round_down ? y : 0);
  }

  const ExprEnv& env_;
  const std::string& text_;
  const std::string& where_;
};

}  // namespace

Expr Expr::parse(const std::string& text, const std::string& where) {
  Expr e;
  e.text_ = text;
  e.where_ = where;
  e.root_ = Parser(e.text_, where).parse();
  return e;
}

json Expr::eval(const ExprEnv& env) const { return Evaluator(env, text_, where_).eval(*root_); }

int64_t Expr::eval_int(const ExprEnv& env) const {
  Evaluator ev(env, text_, where_);
  return ev.integer(ev.eval(*root_));
}

bool Expr::eval_bool(const ExprEnv& env) const {
  Evaluator ev(env, text_, where_);
  return ev.truth(ev.eval(*root_));
}

}  // namespace chainconv
