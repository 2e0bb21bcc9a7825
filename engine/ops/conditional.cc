// if: PREDICATE
// then: [ops]          else: [ops]          for_each: [placeholder, ...]
//
// The predicate is evaluated on the current state dict, separately in each direction, and
// separately for each binding of its placeholders (the layer, usually: one layer may hold
// fused experts and the next per-expert ones). The bindings come from the keys the predicate
// and both branches would touch in this direction; the chosen branch then runs with those
// placeholders fixed. `for_each` names the placeholders explicitly when the predicate's own
// are not the right ones. A predicate naming a signature key that exists in either layout
// makes one conditional dispatch both ways.
//
// Lowers to: what the chosen branch lowers to, per binding.
#include <algorithm>
#include <set>

#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/predicate.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Conditional final : public Op {
 public:
  Conditional(Position pos, Predicate predicate, OpList then_ops, OpList else_ops,
              std::vector<std::string> for_each)
      : Op(std::move(pos)),
        predicate_(std::move(predicate)),
        then_(std::move(then_ops)),
        else_(std::move(else_ops)),
        for_each_(for_each.empty() ? predicate_.placeholder_names() : std::move(for_each)) {}

  std::string_view kind() const override { return "if"; }
  void forward(Context& ctx) const override { dispatch(ctx); }
  void backward(Context& ctx) const override { dispatch(ctx); }

  void footprint(Direction d, Footprint& out) const override {
    predicate_.templates(out.tests);
    for (const Op* child : children()) child->footprint(d, out);
  }

  std::vector<const Op*> children() const override {
    std::vector<const Op*> all;
    for (const OpPtr& op : then_) all.push_back(op.get());
    for (const OpPtr& op : else_) all.push_back(op.get());
    return all;
  }

  // A predicate on keys decides per binding of for_each: with `name` among them, for each
  // value alone; a predicate on parameters alone decides once, for every value alike.
  bool acts_per_value_of(const std::string& name) const override {
    std::vector<const KeyTemplate*> keys;
    predicate_.templates(keys);
    return keys.empty() || std::find(for_each_.begin(), for_each_.end(), name) != for_each_.end();
  }

  std::vector<std::vector<const Op*>> branches() const override {
    std::vector<std::vector<const Op*>> both(2);
    for (const OpPtr& op : then_) both[0].push_back(op.get());
    for (const OpPtr& op : else_) both[1].push_back(op.get());
    return both;
  }

 private:
  void dispatch(Context& ctx) const {
    std::vector<std::string> names;
    for (const std::string& n : for_each_)
      if (!ctx.scope.get(n)) names.push_back(n);
    if (names.empty()) {
      run_ops(predicate_.eval(ctx.dict, ctx.program, ctx.scope, ctx.params) ? then_ : else_, ctx);
      return;
    }
    for (const Bindings& b : scope_bindings(ctx, names)) {
      Context inner = ctx.with_scope(b);
      run_ops(predicate_.eval(ctx.dict, ctx.program, b, ctx.params) ? then_ : else_, inner);
    }
  }

  // The distinct values of `names` among the keys this conditional could touch, in natural
  // order, each merged with the enclosing scope. A superset is harmless: every op is a no-op
  // where its keys are absent, so a binding with nothing to convert costs only a lookup.
  std::vector<Bindings> scope_bindings(const Context& ctx,
                                       const std::vector<std::string>& names) const {
    Footprint fp;
    footprint(ctx.direction, fp);
    std::vector<const KeyTemplate*> templates = fp.tests;
    templates.insert(templates.end(), fp.reads.begin(), fp.reads.end());
    auto binds_all = [&](const KeyTemplate* t) {
      return std::all_of(names.begin(), names.end(),
                         [&](const std::string& n) { return t->has_placeholder(n); });
    };
    std::set<std::string> seen;
    std::vector<std::string> ids;
    std::vector<Bindings> found;
    auto add = [&](std::string id, Bindings b) {
      if (!seen.insert(id).second) return;
      ids.push_back(std::move(id));
      found.push_back(std::move(b));
    };
    for (const KeyTemplate* t : templates) {
      if (!binds_all(t)) continue;
      if (names.size() == 1) {
        std::vector<std::string> values;
        t->candidate_values(ctx.dict, ctx.scope, names.front(), values);
        for (std::string& v : values) {
          Bindings b = ctx.scope;
          b.set(names.front(), v);
          add(std::move(v), std::move(b));
        }
        continue;
      }
      for (const TemplateMatch& m : t->matches(ctx.dict, ctx.scope)) {
        Bindings b = ctx.scope;
        std::string id;
        for (const std::string& n : names) {
          b.set(n, *m.bindings.get(n));
          id += *m.bindings.get(n) + ".";
        }
        add(std::move(id), std::move(b));
      }
    }
    std::vector<size_t> order(found.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return natural_less(ids[a], ids[b]); });
    std::vector<Bindings> result;
    for (size_t i : order) result.push_back(std::move(found[i]));
    return result;
  }

  Predicate predicate_;
  OpList then_;
  OpList else_;
  std::vector<std::string> for_each_;
};

OpPtr parse_conditional(const Node& op, Compiler& c) {
  op.allow_only({"if", "then", "else", "for_each"}, "an 'if' op");
  Predicate predicate = Predicate::parse(op["if"], c);
  if (!op.has("then")) throw op.error("missing field 'then' in an 'if' op");
  OpList then_ops = c.ops(op["then"]);
  OpList else_ops = op.has("else") ? c.ops(op["else"]) : OpList{};
  std::vector<std::string> for_each;
  if (op.has("for_each"))
    for (const Node& n : op["for_each"].one_or_many("a placeholder name or a list of them"))
      for_each.push_back(n.str());
  return std::make_unique<Conditional>(op.pos(), std::move(predicate), std::move(then_ops),
                                       std::move(else_ops), std::move(for_each));
}

}  // namespace

CHAINCONV_REGISTER_OP("if", parse_conditional)

}  // namespace chainconv
