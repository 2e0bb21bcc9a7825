// synthetic: {key: ...experts.w3, like: ...experts.w1, shape: [0]}
//
// Forward creates `key` wherever `like` is present (and `key` is not), as an uninitialised
// tensor of `shape` with `like`'s dtype and device: a prime-only placeholder. Backward drops
// it; dropping one that holds data (a shape other than the declared one) warns.
//
// Lowers to: forward, one create step (reading `like`, not consuming it); backward, a drop.
#include <optional>

#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

// A placeholder is small by nature; anything larger is a mistake in the chain.
constexpr int64_t kMaxSyntheticElements = int64_t{1} << 30;

class Synthetic final : public Op {
 public:
  Synthetic(Position pos, KeyTemplate key, KeyTemplate like, std::vector<IntArg> shape)
      : Op(std::move(pos)),
        key_(std::move(key)),
        like_(std::move(like)),
        shape_(std::move(shape)) {}

  std::string_view kind() const override { return "synthetic"; }

  void forward(Context& ctx) const override {
    std::optional<std::vector<int64_t>> shape;  // for the first key made
    for (const TemplateMatch& m : like_.matches(ctx.dict, ctx.scope)) {
      std::string key = key_.expand(m.bindings);
      if (ctx.contains(key)) continue;
      if (!shape) shape = shape_of(ctx.params);
      ctx.put(*this, ctx.program.add_create(*this, m.slot, *shape, std::move(key)));
    }
  }

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const std::vector<int64_t> declared = shape_of(ctx.params);
      const std::vector<int64_t>& shape = ctx.desc(m.slot).shape;
      if (shape != declared)
        ctx.warn(*this, "dropping '" + std::string(m.key) + "' of shape " + shape_str(shape) +
                            ", which holds data (the synthetic placeholder has shape " +
                            shape_str(declared) + ")");
      ctx.program.add_drop(*this, ctx.take(m));
    }
  }

  void footprint(Direction d, Footprint& out) const override {
    if (d == Direction::to_prime) {
      out.tests.push_back(&like_);
      out.fills.push_back(&key_);
    } else {
      out.reads.push_back(&key_);
    }
  }

 private:
  std::vector<int64_t> shape_of(const ParamEnv& params) const {
    std::vector<int64_t> shape;
    for (const IntArg& size : shape_) {
      shape.push_back(size.value(params));
      if (auto problem = check_size(shape)) throw Error(size.pos(), "synthetic: " + *problem);
    }
    return shape;
  }

 public:
  // The shape so far is still a placeholder's; or what is wrong with its last size.
  static std::optional<std::string> check_size(const std::vector<int64_t>& shape) {
    if (shape.back() < 0) return "expected a size >= 0, found " + std::to_string(shape.back());
    int64_t elements = 1;
    for (int64_t size : shape) {
      if (size > 0 && elements > kMaxSyntheticElements / size)
        return "a synthetic placeholder of more than " + std::to_string(kMaxSyntheticElements) +
               " elements is not a placeholder";
      elements *= size;
    }
    return std::nullopt;
  }

 private:
  KeyTemplate key_;
  KeyTemplate like_;
  std::vector<IntArg> shape_;
};

OpPtr parse_synthetic(const Node& op, Compiler& c) {
  Node args = c.args(op, "synthetic", {"key", "like", "shape"});
  std::vector<IntArg> shape = {IntArg(0)};
  if (args.has("shape")) {
    shape.clear();
    std::vector<int64_t> constants;  // checked now as far as the shape is constant
    for (const Node& d : args["shape"].list("a list of sizes")) {
      shape.push_back(c.integer(d, "a size"));
      if (!shape.back().is_constant()) continue;
      constants.push_back(shape.back().value(no_params()));
      if (auto problem = Synthetic::check_size(constants)) throw d.error(*problem);
    }
  }
  KeyTemplate key = c.key(args.required("key", "'synthetic'"));
  KeyTemplate like = c.key(args.required("like", "'synthetic'"));
  require_bound(c, like, key);
  return std::make_unique<Synthetic>(op.pos(), std::move(key), std::move(like), std::move(shape));
}

}  // namespace

CHAINCONV_REGISTER_OP("synthetic", parse_synthetic)

}  // namespace chainconv
