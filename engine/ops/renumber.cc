// renumber: {from: P., to: Q., start: N, index: layer}
//
// Moves the keys under prefix P whose index placeholder is at least `start` to prefix Q with
// the index counted from `start`: with start 61, `layers.61.enorm.weight` becomes
// `mtp_layers.0.enorm.weight` (DeepSeek's MTP layers follow the main layers in HF and are a
// list of their own in torchtitan, TARGETS.md 3.4). Keys below `start` stay where they are.
// Backward adds `start` back. `start` takes an integer expression
// (`"${config.num_hidden_layers}"`); `index` names the digits placeholder of P and Q and may
// be left out when there is only one. An index written with a leading zero is an error: it
// would not come back as written.
//
// Lowers to: one move step per key.
#include <algorithm>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Renumber final : public Op {
 public:
  Renumber(Position pos, KeyTemplate from, KeyTemplate to, std::string index, IntArg start)
      : Op(std::move(pos)),
        from_(std::move(from)),
        to_(std::move(to)),
        index_(std::move(index)),
        start_(std::move(start)) {}

  std::string_view kind() const override { return "renumber"; }

  void forward(Context& ctx) const override {
    const int64_t start = start_of(ctx);
    for (const TemplateMatch& m : from_.matches(ctx.dict, ctx.scope)) {
      const int64_t index = index_of(ctx, m);
      if (index >= start) move_to_index(ctx, m, to_, index - start);
    }
  }

  void backward(Context& ctx) const override {
    const int64_t start = start_of(ctx);
    // An enclosing conditional fixes the index as forward counts it (the HF index).
    Bindings scope = ctx.scope;
    if (const std::string* fixed = scope.get(index_)) {
      const int64_t index = std::stoll(*fixed);
      if (index < start) return;
      scope.set(index_, std::to_string(index - start));
    }
    for (const TemplateMatch& m : to_.matches(ctx.dict, scope))
      move_to_index(ctx, m, from_, index_of(ctx, m) + start);
  }

  // It reads the index's value (and moves keys from one value to another).
  bool acts_per_value_of(const std::string&) const override { return false; }

  void footprint(Direction d, Footprint& out) const override {
    out.reads.push_back(d == Direction::to_prime ? &from_ : &to_);
    out.writes.push_back(d == Direction::to_prime ? &to_ : &from_);
    out.partial_reads = d == Direction::to_prime;  // keys below start stay
  }

 private:
  // Moves the matched key under `target`, its index placeholder set to `index`.
  void move_to_index(Context& ctx, const TemplateMatch& m, const KeyTemplate& target,
                     int64_t index) const {
    Bindings bindings = m.bindings;
    bindings.set(index_, std::to_string(index));
    ctx.move(*this, m, target.expand(bindings, m.rest));
  }

  int64_t start_of(const Context& ctx) const {
    const int64_t start = start_.value(ctx.params);
    if (start < 0)
      throw ctx.error(*this, "the start index " + std::to_string(start) + " is negative");
    return start;
  }

  int64_t index_of(const Context& ctx, const TemplateMatch& m) const {
    const std::string* bound = m.bindings.get(index_);
    if (!bound) throw ctx.error(*this, "'" + std::string(m.key) + "' binds no {" + index_ + "}");
    return index_value(ctx, *this, m.key, index_, *bound);
  }

  KeyTemplate from_;
  KeyTemplate to_;
  std::string index_;
  IntArg start_;
};

// The digits placeholder of `from` named by `index`, or its only one.
std::string index_placeholder(const Node& args, Compiler& c, const KeyTemplate& from) {
  std::vector<std::string> digits;
  for (const Placeholder& p : from.placeholders())
    if (p.type == PlaceholderType::digits) digits.push_back(p.name);
  if (args.has("index")) {
    std::string name = args["index"].str("a placeholder name");
    if (std::find(digits.begin(), digits.end(), name) == digits.end())
      c.report(args["index"].pos(), "placeholder",
               "{" + name + "} is not a digits placeholder of '" + from.text() + "'");
    return name;
  }
  if (digits.size() != 1) {
    c.report(from.pos(), "placeholder",
             "'" + from.text() + "' has " + std::to_string(digits.size()) +
                 " digits placeholders: name the one to renumber with 'index'");
    return digits.empty() ? std::string() : digits.front();
  }
  return digits.front();
}

OpPtr parse_renumber(const Node& op, Compiler& c) {
  Node args = c.args(op, "renumber", {"from", "to", "start", "index"});
  KeyTemplate from = c.key(args.required("from", "'renumber'"), true);
  KeyTemplate to = c.key(args.required("to", "'renumber'"), true);
  require_same_placeholders(c, from, to);
  IntArg start = c.integer(args.required("start", "'renumber'"), "a start index");
  std::string index = index_placeholder(args, c, from);
  return std::make_unique<Renumber>(op.pos(), std::move(from), std::move(to), std::move(index),
                                    std::move(start));
}

}  // namespace

CHAINCONV_REGISTER_OP("renumber", parse_renumber)

}  // namespace chainconv
