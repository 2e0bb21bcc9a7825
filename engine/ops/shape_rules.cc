#include "ops/shape_rules.h"

#include "core/text.h"
#include "ops/op_util.h"

namespace chainconv {
namespace {

int64_t product_known(const std::vector<int64_t>& pattern) {
  int64_t n = 1;
  for (int64_t d : pattern)
    if (d != -1) n *= d;
  return n;
}

bool fits(const std::vector<int64_t>& pattern, const std::vector<int64_t>& shape) {
  if (pattern.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (pattern[i] != -1 && pattern[i] != shape[i]) return false;
  return true;
}

}  // namespace

ShapeStep ShapeStep::reshape(std::vector<int64_t> from, std::vector<int64_t> to) {
  ShapeStep s;
  s.kind = Kind::reshape;
  s.from = std::move(from);
  s.to = std::move(to);
  return s;
}

ShapeStep ShapeStep::permute(std::vector<int64_t> dims) {
  ShapeStep s;
  s.kind = Kind::permute;
  s.dims = std::move(dims);
  return s;
}

ShapeStep ShapeStep::inverse() const {
  if (kind == Kind::reshape) return reshape(to, from);
  std::vector<int64_t> inv(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inv[static_cast<size_t>(dims[i])] = static_cast<int64_t>(i);
  return permute(std::move(inv));
}

std::string shape_pattern_str(const std::vector<int64_t>& pattern) { return shape_str(pattern); }

void apply_shape_step(Context& ctx, const Op& op, const std::string& key, const ShapeStep& step) {
  const uint32_t* found = ctx.find(key);
  if (!found) throw ctx.error(op, "key '" + key + "' is missing");
  const TensorDesc& d = ctx.desc(*found);
  if (step.kind == ShapeStep::Kind::permute) {
    if (static_cast<int64_t>(step.dims.size()) != d.dim())
      throw ctx.error(op, "cannot permute '" + key + "' " + shape_str(d.shape) + " by " +
                              shape_str(step.dims) + ": it has " + std::to_string(d.dim()) +
                              " dims, the permutation " + std::to_string(step.dims.size()));
    const uint32_t in = ctx.take(op, key);
    ctx.put(op, ctx.program.add_permute(op, in, step.dims, key));
    return;
  }
  if (!fits(step.from, d.shape))
    throw ctx.error(op, "cannot reshape '" + key + "': its shape " + shape_str(d.shape) +
                            " is not " + shape_pattern_str(step.from));
  const int64_t numel = d.numel();
  std::vector<int64_t> shape = step.to;
  const int64_t known = product_known(shape);
  for (int64_t& s : shape)
    if (s == -1) {
      if (known == 0 || numel % known != 0)
        throw ctx.error(op, "cannot reshape '" + key + "' " + shape_str(d.shape) + " (" +
                                std::to_string(numel) + " elements) to " +
                                shape_pattern_str(step.to));
      s = numel / known;
    }
  if (product_known(shape) != numel)
    throw ctx.error(op, "cannot reshape '" + key + "' " + shape_str(d.shape) + " (" +
                            std::to_string(numel) + " elements) to " + shape_str(shape) + " (" +
                            std::to_string(product_known(shape)) + " elements)");
  if (d.expert_dim >= 0)
    refuse_on_shard(ctx, op, key, d, reshaped_dim(d.shape, d.expert_dim, shape) < 0,
                    "reshape '" + key + "' " + shape_str(d.shape) + " to " + shape_str(shape));
  const uint32_t in = ctx.take(op, key);
  ctx.put(op, ctx.program.add_reshape(op, in, std::move(shape), key));
}

void ShapeStepOp::apply(Context& ctx, const ShapeStep& step) const {
  for (const TemplateMatch& m : key_.matches(ctx.dict, ctx.scope))
    apply_shape_step(ctx, *this, std::string(m.key), step);
}

}  // namespace chainconv
