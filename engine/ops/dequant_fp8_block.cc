// dequant_fp8_block: {key: T | [T, ...], scale: S, block: [128, 128], dtype: BF16,
//                     scale_dtype: F32}
//
// Forward turns every block-scaled FP8 weight matching a T (F8_E4M3, [..., R, C]) and its scale
// companion (the same bindings of S, by default T's text with `_scale_inv` appended: the
// `X.weight_scale_inv` of `X.weight`; [..., ceil(R/b0), ceil(C/b1)], F32 or BF16) into one
// `dtype` tensor under the weight's name: W = value(Wq) * S[r / b0, c / b1] (TARGETS.md 4.3).
// The companion is consumed. Leading dims (stacked experts) are kept, so an expert-parallel
// shard needs nothing whole. A matching tensor that is not F8_E4M3, or lacks its companion,
// is an error: which tensors are quantized is the template's to say, exactly.
//
// Backward re-quantizes every tensor matching T per block (TARGETS.md 4.4, DeepGEMM's
// reference: scale = max(amax, 1e-4) / 448 stored as `scale_dtype`, codes round to nearest
// even and saturate at 448), writing the weight as F8_E4M3 and its companion. It is lossy:
// the bytes come back exactly only where a block's largest code was 448.
//
// `block` (default [128, 128]) is [rows, cols], usually the config's
// `${config.quantization_config.weight_block_size}`.
//
// Lowers to: forward, one compute step per weight (fp8_block_dequantize of the weight and
// its scale); backward, two (fp8_block_scale, then fp8_block_quantize).
#include "core/dtypes.h"
#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/transforms.h"

namespace chainconv {
namespace {

class DequantFp8Block final : public Op {
 public:
  // A weight template and its companion's.
  struct Pair {
    KeyTemplate weight, scale;
  };

  DequantFp8Block(Position pos, std::vector<Pair> pairs, IntListArg block, const DtypeInfo& dtype,
                  const DtypeInfo& scale_dtype)
      : Op(std::move(pos)),
        pairs_(std::move(pairs)),
        block_(std::move(block)),
        dtype_(dtype),
        scale_dtype_(scale_dtype) {}

  std::string_view kind() const override { return "dequant_fp8_block"; }

  void forward(Context& ctx) const override {
    for (const Pair& pair : pairs_) dequantize(ctx, pair);
  }
  void backward(Context& ctx) const override {
    for (const Pair& pair : pairs_) quantize(ctx, pair);
  }

  void footprint(Direction d, Footprint& out) const override {
    for (const Pair& pair : pairs_) {
      out.reads.push_back(&pair.weight);
      out.writes.push_back(&pair.weight);
      (d == Direction::to_prime ? out.reads : out.writes).push_back(&pair.scale);
    }
  }

  std::string lossy() const override {
    return "re-quantizing gives the original FP8 bytes only where a block's largest code was "
           "448";
  }

 private:
  void dequantize(Context& ctx, const Pair& pair) const {
    const std::vector<TemplateMatch> found = pair.weight.matches(ctx.dict, ctx.scope);
    if (found.empty()) return;
    const std::vector<int64_t> block = block_of(ctx);
    static const Transform& dequantize = transform_named("fp8_block_dequantize");
    for (const TemplateMatch& m : found) {
      const std::string key(m.key);
      const TensorDesc& w = ctx.desc(m.slot);
      if (w.dtype->name != "F8_E4M3")
        throw ctx.error(*this, "'" + key + "' is " + std::string(w.dtype->name) +
                                   ", not F8_E4M3 (the template names the quantized weights)");
      require_matrix(ctx, key, w);
      const std::string scale_key = pair.scale.expand(m.bindings);
      const uint32_t* scale_slot = ctx.find(scale_key);
      if (!scale_slot)
        throw ctx.error(*this, "'" + key + "' has no scale companion '" + scale_key + "'");
      const TensorDesc& s = ctx.desc(*scale_slot);
      if (!s.dtype->floating())
        throw ctx.error(*this, "the scale '" + scale_key + "' is " + std::string(s.dtype->name) +
                                   ", not a float dtype");
      if (s.shape != grid_of(w.shape, block))
        throw ctx.error(*this, "the scale '" + scale_key + "' has shape " + shape_str(s.shape) +
                                   " but " + shape_str(w.shape) + " in blocks of " +
                                   shape_str(block) + " needs " +
                                   shape_str(grid_of(w.shape, block)));
      std::vector<int64_t> shape = w.shape;
      const uint32_t weight = ctx.take(m), scale = ctx.take(*this, scale_key);
      ctx.put(*this, ctx.program.add_compute(*this, {weight, scale}, dequantize, dtype_,
                                             std::move(shape), key, block));
    }
  }

  void quantize(Context& ctx, const Pair& pair) const {
    const std::vector<TemplateMatch> found = pair.weight.matches(ctx.dict, ctx.scope);
    if (found.empty()) return;
    const std::vector<int64_t> block = block_of(ctx);
    static const Transform& scale_of = transform_named("fp8_block_scale");
    static const Transform& quantize = transform_named("fp8_block_quantize");
    static const DtypeInfo& fp8 = dtype_named("F8_E4M3");
    for (const TemplateMatch& m : found) {
      const std::string key(m.key);
      const TensorDesc& x = ctx.desc(m.slot);
      if (!x.dtype->floating())
        throw ctx.error(*this, "cannot quantize '" + key + "': its dtype " +
                                   std::string(x.dtype->name) + " is not a float dtype");
      require_matrix(ctx, key, x);
      const std::string scale_key = pair.scale.expand(m.bindings);
      ctx.require_free(*this, scale_key);
      std::vector<int64_t> shape = x.shape;
      const uint32_t in = ctx.take(m);
      const uint32_t scale = ctx.program.add_compute(*this, {in}, scale_of, scale_dtype_,
                                                     grid_of(shape, block), scale_key, block);
      ctx.put(*this, scale);
      ctx.put(*this, ctx.program.add_compute(*this, {in, scale}, quantize, fp8, std::move(shape),
                                             key, block));
    }
  }

  std::vector<int64_t> block_of(const Context& ctx) const {
    std::vector<int64_t> block = block_.value(ctx.params);
    if (block.size() != 2 || block[0] <= 0 || block[1] <= 0)
      throw ctx.error(*this,
                      "the block " + shape_str(block) + " is not two positive sizes [rows, cols]");
    return block;
  }

  void require_matrix(const Context& ctx, const std::string& key, const TensorDesc& d) const {
    if (d.dim() < 2)
      throw ctx.error(*this, "'" + key + "' has shape " + shape_str(d.shape) +
                                 "; block scaling needs >= 2 dims ([..., rows, cols])");
  }

  static std::vector<int64_t> grid_of(std::vector<int64_t> shape,
                                      const std::vector<int64_t>& block) {
    const size_t n = shape.size();
    shape[n - 2] = (shape[n - 2] + block[0] - 1) / block[0];
    shape[n - 1] = (shape[n - 1] + block[1] - 1) / block[1];
    return shape;
  }

  std::vector<Pair> pairs_;
  IntListArg block_;
  const DtypeInfo& dtype_;
  const DtypeInfo& scale_dtype_;
};

OpPtr parse_dequant_fp8_block(const Node& op, Compiler& c) {
  Node args = c.args(op, "dequant_fp8_block", {"key", "scale", "block", "dtype", "scale_dtype"});
  Node key_node = args.required("key", "'dequant_fp8_block'");
  std::vector<KeyTemplate> keys = c.keys(key_node);
  if (args.has("scale") && keys.size() != 1)
    c.report(args["scale"].pos(), "schema",
             "'scale' names the companion of one weight template; with a list of them each "
             "companion is its weight's name with _scale_inv appended");
  std::vector<DequantFp8Block::Pair> pairs;
  for (KeyTemplate& key : keys) {
    KeyTemplate scale = args.has("scale")
                            ? c.key(args["scale"])
                            : KeyTemplate::compile(key.text() + "_scale_inv", key.pos());
    require_same_placeholders(c, key, scale);
    pairs.push_back({std::move(key), std::move(scale)});
  }
  IntListArg block = args.has("block") ? c.int_list(args["block"], "a block size [rows, cols]")
                                       : IntListArg({IntArg(128), IntArg(128)});
  const DtypeInfo& dtype = float_dtype_arg(args, "dtype", "BF16");
  const DtypeInfo& scale_dtype = float_dtype_arg(args, "scale_dtype", "F32");
  return std::make_unique<DequantFp8Block>(op.pos(), std::move(pairs), std::move(block), dtype,
                                           scale_dtype);
}

}  // namespace

CHAINCONV_REGISTER_OP("dequant_fp8_block", parse_dequant_fp8_block)

}  // namespace chainconv
