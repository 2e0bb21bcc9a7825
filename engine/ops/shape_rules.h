// The rules the shape ops share (reshape, permute, transpose, rope_permute): one shape step on
// a keyed tensor, and its inverse, so that a composite op is a list of steps whose backward
// is derived (each step's inverse, in reverse order), never written by hand.
#pragma once

#include <string>
#include <vector>

#include "ops/op.h"

namespace chainconv {

struct ShapeStep {
  enum class Kind : uint8_t { reshape, permute };
  Kind kind = Kind::reshape;
  // reshape: the shape the tensor must have and the shape it gets; each may hold one -1 (the
  // size that makes the element count match).
  std::vector<int64_t> from, to;
  // permute: output dim i is input dim dims[i].
  std::vector<int64_t> dims;

  static ShapeStep reshape(std::vector<int64_t> from, std::vector<int64_t> to);
  static ShapeStep permute(std::vector<int64_t> dims);
  ShapeStep inverse() const;
};

// "[4, -1, 8]"
std::string shape_pattern_str(const std::vector<int64_t>& pattern);

// Applies `step` to the tensor under `key`, which keeps its name: a view where the input's
// strides allow one, a copy and a view otherwise. Errors (and the shard refusal) name `op`.
void apply_shape_step(Context& ctx, const Op& op, const std::string& key, const ShapeStep& step);

// The op behind reshape and permute: one fixed step on every tensor matching `key` forward,
// its inverse backward; their units parse the arguments into the step. `kind` is a literal.
class ShapeStepOp final : public Op {
 public:
  ShapeStepOp(Position pos, std::string_view kind, KeyTemplate key, ShapeStep step)
      : Op(std::move(pos)), kind_(kind), key_(std::move(key)), step_(std::move(step)) {}

  std::string_view kind() const override { return kind_; }
  void forward(Context& ctx) const override { apply(ctx, step_); }
  void backward(Context& ctx) const override { apply(ctx, step_.inverse()); }
  void footprint(Direction, Footprint& out) const override {
    out.reads.push_back(&key_);
    out.writes.push_back(&key_);
  }

 private:
  void apply(Context& ctx, const ShapeStep& step) const;

  std::string_view kind_;
  KeyTemplate key_;
  ShapeStep step_;
};

}  // namespace chainconv
