// synthetic: {key: ...experts.w3, like: ...experts.w1, shape: [0]}
//
// Forward creates `key` wherever `like` is present (and `key` is not), as an uninitialised
// tensor of `shape` with `like`'s dtype and device: a prime-only placeholder. Backward drops
// it; dropping one that holds data (a shape other than the declared one) warns.
#include <ATen/ops/empty.h>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Synthetic final : public Op {
 public:
  Synthetic(SourcePos pos, KeyTemplate key, KeyTemplate like, std::vector<int64_t> shape)
      : Op(std::move(pos)), key_(std::move(key)), like_(std::move(like)), shape_(std::move(shape)) {
    for (const std::string& name : key_.placeholder_names())
      if (!like_.has_placeholder(name))
        throw Error(key_.pos(), "placeholder {" + name + "} in '" + key_.text() +
                                    "' is not bound by '" + like_.text() + "'");
  }

  std::string_view kind() const override { return "synthetic"; }

  void forward(Context& ctx) const override {
    for (const TemplateMatch& m : like_.matches(ctx.dict, ctx.scope)) {
      std::string key = key_.expand(m.bindings);
      if (ctx.dict.contains(key)) continue;
      ctx.insert(*this, key, placeholder_like(ctx.dict.item(m.key)));
      ctx.step(*this, {}, {key}, &m.key);
    }
  }

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      Item item = ctx.take(*this, m.key);
      if (item.tensor.sizes().vec() != shape_)
        ctx.warn(*this, "dropping '" + m.key + "' of shape " +
                            shape_str(item.tensor.sizes().vec()) +
                            ", which holds data (the synthetic placeholder has shape " +
                            shape_str(shape_) + ")");
      ctx.step(*this, {m.key}, {});
    }
  }

  void replay(StepIO& io) const override {
    if (io.direction == Direction::to_prime) io.out.push_back(placeholder_like(*io.seen));
  }

  void footprint(Direction d, Footprint& out) const override {
    if (d == Direction::to_prime) {
      out.tests.push_back(&like_);
      out.writes.push_back(&key_);
    } else {
      out.reads.push_back(&key_);
    }
  }

 private:
  Item placeholder_like(const Item& like) const {
    return Item{at::empty(shape_, like.tensor.options()), like.opaque_dtype};
  }

  KeyTemplate key_;
  KeyTemplate like_;
  std::vector<int64_t> shape_;
};

}  // namespace

OpPtr parse_synthetic(const Node& op, Compiler& c) {
  Node args = c.args(op, "synthetic", {"key", "like", "shape"});
  std::vector<int64_t> shape = {0};
  if (args.has("shape")) {
    shape.clear();
    for (const Node& d : args["shape"].list("a list of sizes")) {
      shape.push_back(d.integer("a size"));
      if (shape.back() < 0) throw d.error("expected a size >= 0");
    }
  }
  return std::make_unique<Synthetic>(op.pos(), c.key(args.required("key", "'synthetic'")),
                                     c.key(args.required("like", "'synthetic'")), std::move(shape));
}

}  // namespace chainconv
