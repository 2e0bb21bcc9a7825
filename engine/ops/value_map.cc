// map: {key: T, forward: TRANSFORM, backward: TRANSFORM, lossy: "why"}
//
// Transforms the values of every key matching T in place, forward one way, backward the
// other, from a closed vocabulary (ops/transforms.h; no lambdas in chain files). When
// `backward` is not the exact inverse of `forward` the op must say `lossy:` with a reason.
// Transforms keep shape and dtype. A tensor of a dtype this LibTorch cannot compute on
// (FP8) is an error.
//
// Lowers to: one compute step per key (none for `identity`).
#include "dsl/compiler.h"
#include "ops/registry.h"
#include "ops/transforms.h"

namespace chainconv {

namespace {

const Transform& find_transform(const Node& node) {
  std::string name = node.str("a transform name");
  std::string known;
  for (const Transform& t : transforms()) {
    if (!t.for_map) continue;
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + std::string(t.name);
  }
  throw node.error("unknown transform '" + name + "' (expected one of: " + known + ")");
}

class ValueMap final : public Op {
 public:
  ValueMap(Position pos, KeyTemplate key, const Transform& fwd, const Transform& bwd,
           std::string lossy)
      : Op(std::move(pos)),
        key_(std::move(key)),
        forward_(fwd),
        backward_(bwd),
        lossy_(std::move(lossy)) {}

  std::string_view kind() const override { return "map"; }
  void forward(Context& ctx) const override { apply(ctx, forward_); }
  void backward(Context& ctx) const override { apply(ctx, backward_); }
  void footprint(Direction, Footprint& out) const override {
    out.reads.push_back(&key_);
    out.writes.push_back(&key_);
  }
  std::string lossy() const override { return lossy_; }

 private:
  void apply(Context& ctx, const Transform& transform) const {
    if (transform.name == "identity") return;
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const TensorDesc& d = ctx.desc(m.slot);
      if (d.dtype->opaque())
        throw ctx.error(*this, "cannot apply '" + std::string(transform.name) + "' to '" +
                                   std::string(m.key) + "': its dtype " +
                                   std::string(d.dtype->name) + " only moves as bytes");
      const DtypeInfo& dtype = *d.dtype;
      std::vector<int64_t> shape = d.shape;
      std::string key(m.key);
      const uint32_t in = ctx.take(m);
      ctx.put(*this, ctx.program.add_compute(*this, {in}, transform, dtype, std::move(shape),
                                             std::move(key)));
    }
  }

  KeyTemplate key_;
  const Transform& forward_;
  const Transform& backward_;
  std::string lossy_;
};

OpPtr parse_value_map(const Node& op, Compiler& c) {
  Node args = c.args(op, "map", {"key", "forward", "backward", "lossy"});
  const Transform& fwd = find_transform(args.required("forward", "'map'"));
  const Transform& bwd = find_transform(args.required("backward", "'map'"));
  std::string lossy = args.has("lossy") ? args["lossy"].str("a reason") : "";
  if (fwd.inverse != bwd.name && lossy.empty())
    c.report(args.pos(), "lossy",
             "backward '" + std::string(bwd.name) + "' does not undo forward '" +
                 std::string(fwd.name) + "'; declare the step with 'lossy: <reason>'");
  return std::make_unique<ValueMap>(op.pos(), c.key(args.required("key", "'map'")), fwd, bwd,
                                    lossy);
}

}  // namespace

CHAINCONV_REGISTER_OP("map", parse_value_map)

}  // namespace chainconv
