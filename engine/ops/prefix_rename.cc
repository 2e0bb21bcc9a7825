// prefix_rename: {from: P., to: Q.}
//
// Forward moves every key that starts with prefix P (a template ending in '.') to Q + the
// rest of the key. Backward moves Q-prefixed keys back to P. Keys already under Q are left
// alone on forward, which is how an HF dict that already uses the prime prefix converts.
//
// Lowers to: one move step per key.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class PrefixRename final : public Op {
 public:
  PrefixRename(Position pos, KeyTemplate from, KeyTemplate to)
      : Op(std::move(pos)), from_(std::move(from)), to_(std::move(to)) {}

  std::string_view kind() const override { return "prefix_rename"; }
  void forward(Context& ctx) const override { move_all(ctx, from_, to_); }
  void backward(Context& ctx) const override { move_all(ctx, to_, from_); }

  bool acts_per_key() const override { return true; }

  void footprint(Direction d, Footprint& out) const override {
    out.reads.push_back(d == Direction::to_prime ? &from_ : &to_);
    out.writes.push_back(d == Direction::to_prime ? &to_ : &from_);
  }

 private:
  void move_all(Context& ctx, const KeyTemplate& source, const KeyTemplate& target) const {
    for (const TemplateMatch& m : source.matches(ctx.dict, ctx.scope))
      ctx.move(*this, m, target.expand(m.bindings, m.rest));
  }

  KeyTemplate from_;
  KeyTemplate to_;
};

OpPtr parse_prefix_rename(const Node& op, Compiler& c) {
  Node args = c.args(op, "prefix_rename", {"from", "to"});
  KeyTemplate from = c.key(args.required("from", "'prefix_rename'"), true);
  KeyTemplate to = c.key(args.required("to", "'prefix_rename'"), true);
  require_same_placeholders(c, from, to);
  return std::make_unique<PrefixRename>(op.pos(), std::move(from), std::move(to));
}

}  // namespace

CHAINCONV_REGISTER_OP("prefix_rename", parse_prefix_rename)

}  // namespace chainconv
