// rope_permute: {key: ...self_attn.q_proj.weight, heads: 32, head_dim: 128}
//
// The RoPE row permutation of a q or k projection between the HF layout (rotate-half: within
// each head the first half of the rows are the real parts, the second half the imaginary
// ones) and the Meta / torchtitan layout (interleaved pairs). Forward is HF -> Meta, as
// torchtitan's from_hf: rows [n * hd, ...] are reshaped to [n, 2, hd/2, ...], dims 1 and 2
// are swapped and the result is reshaped back, so Meta row h*hd + 2i + j is HF row
// h*hd + j*hd/2 + i. For k with grouped-query attention `heads` is the KV head count.
// `head_dim` defaults to rows / heads. Both take integer expressions
// (`heads: "${config.num_key_value_heads}"`). Trailing dims (the input features) are untouched, and
// a 1-d bias permutes the same way.
//
// The op is defined by its list of shape steps (ops/shape_rules.h); backward plays their
// inverses in reverse order, so the Meta -> HF direction is derived, not written.
//
// Lowers to: a reshape view, a permute view, a contiguous copy and a reshape view per key.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape_rules.h"

namespace chainconv {
namespace {

class RopePermute final : public Op {
 public:
  RopePermute(Position pos, KeyTemplate key, IntArg heads, IntArg head_dim)
      : Op(std::move(pos)),
        key_(std::move(key)),
        heads_(std::move(heads)),
        head_dim_(std::move(head_dim)) {}

  std::string_view kind() const override { return "rope_permute"; }

  void forward(Context& ctx) const override {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const std::string key(m.key);
      for (const ShapeStep& step : steps(ctx, key, ctx.desc(m.slot).shape))
        apply_shape_step(ctx, *this, key, step);
    }
  }

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope)) {
      const std::string key(m.key);
      // The permutation keeps the shape, so the prime tensor's shape gives forward's steps.
      const std::vector<ShapeStep> forward = steps(ctx, key, ctx.desc(m.slot).shape);
      for (auto step = forward.rbegin(); step != forward.rend(); ++step)
        apply_shape_step(ctx, *this, key, step->inverse());
    }
  }

  void footprint(Direction, Footprint& out) const override {
    out.reads.push_back(&key_);
    out.writes.push_back(&key_);
  }

 private:
  // Forward's steps on a tensor of `shape`: [R, rest...] -> [n, 2, hd/2, rest...] ->
  // swap dims 1 and 2 -> [R, rest...].
  std::vector<ShapeStep> steps(const Context& ctx, const std::string& key,
                               const std::vector<int64_t>& shape) const {
    // Parameters and config values are bound per lowering: checked here, not at compile.
    const int64_t heads = heads_.value(ctx.params), wanted_head_dim = head_dim_.value(ctx.params);
    if (heads <= 0 || wanted_head_dim < 0)
      throw ctx.error(*this, "heads " + std::to_string(heads) + " and head_dim " +
                                 std::to_string(wanted_head_dim) + " must be positive");
    if (shape.empty())
      throw ctx.error(
          *this, "'" + key + "' is a scalar; expected rows of " + std::to_string(heads) + " heads");
    const int64_t rows = shape[0];
    const int64_t head_dim = wanted_head_dim > 0 ? wanted_head_dim : rows / heads;
    if (rows != heads * head_dim || head_dim % 2 != 0)
      throw ctx.error(*this, "'" + key + "' has " + std::to_string(rows) + " rows, not " +
                                 std::to_string(heads) + " heads of an even " +
                                 (wanted_head_dim > 0 ? "head_dim " + std::to_string(head_dim)
                                                      : std::string("head_dim")));
    const std::vector<int64_t> rest(shape.begin() + 1, shape.end());
    std::vector<int64_t> split = {heads, 2, head_dim / 2};
    split.insert(split.end(), rest.begin(), rest.end());
    std::vector<int64_t> swap(shape.size() + 2);
    for (size_t i = 0; i < swap.size(); ++i) swap[i] = static_cast<int64_t>(i);
    std::swap(swap[1], swap[2]);
    std::vector<int64_t> swapped = split;
    std::swap(swapped[1], swapped[2]);
    return {ShapeStep::reshape(shape, split), ShapeStep::permute(swap),
            ShapeStep::reshape(swapped, shape)};
  }

  KeyTemplate key_;
  IntArg heads_;
  IntArg head_dim_;  // 0: rows / heads
};

OpPtr parse_rope_permute(const Node& op, Compiler& c) {
  Node args = c.args(op, "rope_permute", {"key", "heads", "head_dim"});
  KeyTemplate key = c.key(args.required("key", "'rope_permute'"));
  Node heads_node = args.required("heads", "'rope_permute'");
  IntArg heads = c.integer(heads_node, "a head count");
  if (heads.is_constant() && heads.value({}) <= 0) {
    c.report(heads_node.pos(), "schema", "expected a positive head count");
    heads = IntArg(1);
  }
  IntArg head_dim(0);
  if (args.has("head_dim")) {
    head_dim = c.integer(args["head_dim"], "a head dim");
    const int64_t d = head_dim.is_constant() ? head_dim.value({}) : 2;
    if (d <= 0 || d % 2 != 0)
      c.report(args["head_dim"].pos(), "schema",
               "expected a positive even head_dim, found " + std::to_string(d));
  }
  return std::make_unique<RopePermute>(op.pos(), std::move(key), std::move(heads),
                                       std::move(head_dim));
}

}  // namespace

CHAINCONV_REGISTER_OP("rope_permute", parse_rope_permute)

}  // namespace chainconv
