// prefix_rename: {from: P., to: Q.}
//
// Forward moves every key that starts with prefix P (a template ending in '.') to Q + the
// rest of the key. Backward moves Q-prefixed keys back to P. Keys already under Q are left
// alone on forward, which is how an HF dict that already uses the prime prefix converts.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class PrefixRename final : public Op {
 public:
  PrefixRename(SourcePos pos, KeyTemplate from, KeyTemplate to)
      : Op(std::move(pos)), from_(std::move(from)), to_(std::move(to)) {
    require_same_placeholders(from_, to_);
  }

  std::string_view kind() const override { return "prefix_rename"; }
  void forward(Context& ctx) const override { move_all(ctx, from_, to_); }
  void backward(Context& ctx) const override { move_all(ctx, to_, from_); }

  bool moves_only() const override { return true; }
  void replay(StepIO& io) const override { io.out.push_back(std::move(io.in.front())); }

  void footprint(Direction d, Footprint& out) const override {
    out.reads.push_back(d == Direction::to_prime ? &from_ : &to_);
    out.writes.push_back(d == Direction::to_prime ? &to_ : &from_);
  }

 private:
  void move_all(Context& ctx, const KeyTemplate& source, const KeyTemplate& target) const {
    for (const TemplateMatch& m : source.matches(ctx.dict, ctx.scope)) {
      std::string to = target.expand(m.bindings, m.rest);
      ctx.move(*this, m.key, to);
      ctx.step(*this, {m.key}, {to});
    }
  }

  KeyTemplate from_;
  KeyTemplate to_;
};

}  // namespace

OpPtr parse_prefix_rename(const Node& op, Compiler& c) {
  Node args = c.args(op, "prefix_rename", {"from", "to"});
  return std::make_unique<PrefixRename>(op.pos(),
                                        c.key(args.required("from", "'prefix_rename'"), true),
                                        c.key(args.required("to", "'prefix_rename'"), true));
}

}  // namespace chainconv
