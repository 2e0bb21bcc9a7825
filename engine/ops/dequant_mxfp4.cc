// dequant_mxfp4: {blocks: B, scales: S, to: T, dtype: BF16}
//
// Forward turns every MXFP4 tensor pair, the packed codes matching B (U8 [..., G, 16], two
// E2M1 values a byte, the low nibble first) and the same bindings of S (U8 [..., G], an E8M0
// exponent per 32 values), into one `dtype` tensor [..., 32 G] under the same bindings of T:
// W[..., 32 g + 2 b + n] = E2M1(nibble n of B[..., g, b]) * 2^(S[..., g] - 127) (TARGETS.md
// 5.2; gpt-oss `*_blocks` / `*_scales`, rows = outputs, so W is [E, out, in]). Both inputs
// are consumed. A missing scale, or shapes that do not pair, are errors.
//
// Backward re-packs every tensor matching T (its last dim a multiple of 32): each group of
// 32 gets the exponent floor(log2(amax)) - 2 (so its largest value lands in [4, 8)), and each
// value the nearest E2M1 code (ties to even, saturating at 6). Lossy: a group whose largest
// code was below 4 comes back with other (equal-valued or coarser) bytes.
//
// Lowers to: forward, one compute step per pair (mxfp4_dequantize); backward, two
// (mxfp4_scale, then mxfp4_quantize).
#include "core/dtypes.h"
#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/transforms.h"

namespace chainconv {
namespace {

constexpr int64_t kGroup = 32;

class DequantMxfp4 final : public Op {
 public:
  DequantMxfp4(Position pos, KeyTemplate blocks, KeyTemplate scales, KeyTemplate to,
               const DtypeInfo& dtype)
      : Op(std::move(pos)),
        blocks_(std::move(blocks)),
        scales_(std::move(scales)),
        to_(std::move(to)),
        dtype_(dtype) {}

  std::string_view kind() const override { return "dequant_mxfp4"; }

  void forward(Context& ctx) const override {
    static const Transform& dequantize = transform_named("mxfp4_dequantize");
    for (const TemplateMatch& m : blocks_.matches(ctx.dict, ctx.scope)) {
      const std::string key(m.key);
      const TensorDesc& b = ctx.desc(m.slot);
      if (b.dtype->name != "U8" || b.dim() < 2 || b.shape.back() != kGroup / 2)
        throw ctx.error(*this, "'" + key + "' is " + std::string(b.dtype->name) + " " +
                                   shape_str(b.shape) +
                                   ", not MXFP4 blocks (U8 [..., groups, 16])");
      const std::string scales_key = scales_.expand(m.bindings);
      const uint32_t* scales_slot = ctx.find(scales_key);
      if (!scales_slot) throw ctx.error(*this, "'" + key + "' has no scales '" + scales_key + "'");
      const TensorDesc& s = ctx.desc(*scales_slot);
      const std::vector<int64_t> groups(b.shape.begin(), b.shape.end() - 1);
      if (s.dtype->name != "U8" || s.shape != groups)
        throw ctx.error(*this, "the scales '" + scales_key + "' are " + std::string(s.dtype->name) +
                                   " " + shape_str(s.shape) + " but the blocks '" + key +
                                   "' need U8 " + shape_str(groups));
      std::vector<int64_t> shape(groups.begin(), groups.end() - 1);
      shape.push_back(groups.back() * kGroup);
      std::string target = to_.expand(m.bindings);
      ctx.require_free(*this, target);
      const uint32_t in = ctx.take(m), scale = ctx.take(*this, scales_key);
      ctx.put(*this, ctx.program.add_compute(*this, {in, scale}, dequantize, dtype_,
                                             std::move(shape), std::move(target)));
    }
  }

  void backward(Context& ctx) const override {
    static const Transform& scale_of = transform_named("mxfp4_scale");
    static const Transform& quantize = transform_named("mxfp4_quantize");
    static const DtypeInfo& u8 = dtype_named("U8");
    for (const TemplateMatch& m : to_.matches(ctx.dict, ctx.scope)) {
      const std::string key(m.key);
      const TensorDesc& x = ctx.desc(m.slot);
      if (!x.dtype->floating() || x.dim() < 1 || x.shape.back() % kGroup != 0)
        throw ctx.error(*this, "cannot pack '" + key + "' (" + std::string(x.dtype->name) + " " +
                                   shape_str(x.shape) +
                                   ") as MXFP4: it needs a float dtype and a last dim that is a "
                                   "multiple of 32");
      std::string blocks_key = blocks_.expand(m.bindings), scales_key = scales_.expand(m.bindings);
      ctx.require_free(*this, blocks_key);
      ctx.require_free(*this, scales_key);
      std::vector<int64_t> groups = x.shape;
      groups.back() /= kGroup;
      std::vector<int64_t> packed = groups;
      packed.push_back(kGroup / 2);
      const uint32_t in = ctx.take(m);
      const uint32_t scales = ctx.program.add_compute(*this, {in}, scale_of, u8, std::move(groups),
                                                      std::move(scales_key));
      ctx.put(*this, scales);
      ctx.put(*this, ctx.program.add_compute(*this, {in, scales}, quantize, u8, std::move(packed),
                                             std::move(blocks_key)));
    }
  }

  void footprint(Direction d, Footprint& out) const override {
    auto& hf = d == Direction::to_prime ? out.reads : out.writes;
    hf.push_back(&blocks_);
    hf.push_back(&scales_);
    (d == Direction::to_prime ? out.writes : out.reads).push_back(&to_);
  }

  std::string lossy() const override {
    return "re-packing gives the original MXFP4 bytes only where a group's largest code was 4 "
           "or 6";
  }

 private:
  KeyTemplate blocks_, scales_, to_;
  const DtypeInfo& dtype_;
};

OpPtr parse_dequant_mxfp4(const Node& op, Compiler& c) {
  Node args = c.args(op, "dequant_mxfp4", {"blocks", "scales", "to", "dtype"});
  KeyTemplate blocks = c.key(args.required("blocks", "'dequant_mxfp4'"));
  KeyTemplate scales = c.key(args.required("scales", "'dequant_mxfp4'"));
  KeyTemplate to = c.key(args.required("to", "'dequant_mxfp4'"));
  require_same_placeholders(c, blocks, scales);
  require_same_placeholders(c, blocks, to);
  const DtypeInfo& dtype = float_dtype_arg(args, "dtype", "BF16");
  return std::make_unique<DequantMxfp4>(op.pos(), std::move(blocks), std::move(scales),
                                        std::move(to), dtype);
}

}  // namespace

CHAINCONV_REGISTER_OP("dequant_mxfp4", parse_dequant_mxfp4)

}  // namespace chainconv
