// squeeze_leading: {key: T, ndim: 3}
//
// Backward only: a tensor matching T with `ndim` dims and a leading dim of 1 (a prime
// shared expert stored as [1, I, H]) loses that dim on its way to HF. Forward does nothing,
// so the step is canonicalising: the leading dim is not restored.
//
// Lowers to: backward, one squeeze view per key.
#include "dsl/compiler.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class SqueezeLeading final : public Op {
 public:
  SqueezeLeading(Position pos, KeyTemplate key, IntArg ndim)
      : Op(std::move(pos)), key_(std::move(key)), ndim_(ndim) {}

  std::string_view kind() const override { return "squeeze_leading"; }
  void forward(Context&) const override {}

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const int64_t ndim = ndim_.value(ctx.params);  // a constant in every shipped chain
      const TensorDesc& d = ctx.desc(m.slot);
      if (d.dim() != ndim || d.shape[0] != 1) continue;
      std::string key(m.key);
      const uint32_t in = ctx.take(m);
      ctx.put(*this, ctx.program.add_view(*this, in, ViewSpec{ViewSpec::Kind::squeeze, 0, 0, 0},
                                          std::move(key)));
    }
  }

  void footprint(Direction d, Footprint& out) const override {
    if (d == Direction::to_hf) out.tests.push_back(&key_);
  }

  std::string lossy() const override {
    return "a leading singleton dim is not restored on forward";
  }

 private:
  KeyTemplate key_;
  IntArg ndim_;
};

OpPtr parse_squeeze_leading(const Node& op, Compiler& c) {
  Node args = c.args(op, "squeeze_leading", {"key", "ndim"});
  IntArg ndim = args.has("ndim") ? c.integer(args["ndim"], "a number of dims") : IntArg(3);
  if (ndim.is_constant() && ndim.value(no_params()) < 1)
    throw args["ndim"].error("expected ndim >= 1");
  return std::make_unique<SqueezeLeading>(op.pos(),
                                          c.key(args.required("key", "'squeeze_leading'")), ndim);
}

}  // namespace

CHAINCONV_REGISTER_OP("squeeze_leading", parse_squeeze_leading)

}  // namespace chainconv
