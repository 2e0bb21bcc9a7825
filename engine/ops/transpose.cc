// transpose: {key: T, dims: [1, 2]}
//
// Swaps two dims of every tensor matching T (negative dims count from the end, so one op
// serves tensors of any rank); it is its own inverse. The expert dim of a shard moves with
// it, so a shard is never refused.
//
// Lowers to: one permute view per key.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape_rules.h"

namespace chainconv {
namespace {

class Transpose final : public Op {
 public:
  Transpose(Position pos, KeyTemplate key, int64_t a, int64_t b)
      : Op(std::move(pos)), key_(std::move(key)), a_(a), b_(b) {}

  std::string_view kind() const override { return "transpose"; }
  void forward(Context& ctx) const override { apply(ctx); }
  void backward(Context& ctx) const override { apply(ctx); }
  void footprint(Direction, Footprint& out) const override {
    out.reads.push_back(&key_);
    out.writes.push_back(&key_);
  }

 private:
  void apply(Context& ctx) const {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const std::string key(m.key);
      const int64_t ndim = ctx.desc(m.slot).dim();
      const int64_t a = tensor_dim(ctx, *this, key, ndim, a_);
      const int64_t b = tensor_dim(ctx, *this, key, ndim, b_);
      if (a == b)
        throw ctx.error(*this, "dims " + std::to_string(a_) + " and " + std::to_string(b_) +
                                   " are the same dim of '" + key + "'");
      std::vector<int64_t> dims(static_cast<size_t>(ndim));
      for (int64_t i = 0; i < ndim; ++i) dims[static_cast<size_t>(i)] = i;
      std::swap(dims[static_cast<size_t>(a)], dims[static_cast<size_t>(b)]);
      apply_shape_step(ctx, *this, key, ShapeStep::permute(std::move(dims)));
    }
  }

  KeyTemplate key_;
  int64_t a_, b_;
};

OpPtr parse_transpose(const Node& op, Compiler& c) {
  Node args = c.args(op, "transpose", {"key", "dims"});
  KeyTemplate key = c.key(args.required("key", "'transpose'"));
  Node dims_node = args.required("dims", "'transpose'");
  std::vector<int64_t> dims = integer_list_arg(c, dims_node, "dims");
  if (dims.size() != 2) {
    c.report(dims_node.pos(), "schema",
             "'dims' needs exactly two dims, found " + std::to_string(dims.size()));
    dims.resize(2, 0);
  } else if (dims[0] == dims[1]) {
    c.report(dims_node.pos(), "schema", "'dims' names dim " + std::to_string(dims[0]) + " twice");
  }
  return std::make_unique<Transpose>(op.pos(), std::move(key), dims[0], dims[1]);
}

}  // namespace

CHAINCONV_REGISTER_OP("transpose", parse_transpose)

}  // namespace chainconv
