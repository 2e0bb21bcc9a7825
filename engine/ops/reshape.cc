// reshape: {key: T, from: [4096, 4096], to: [32, 2, 64, -1]}
//
// Forward gives every tensor matching T whose shape is `from` the shape `to`; backward gives
// tensors of shape `to` the shape `from` back. Each shape may hold one -1, the size that keeps
// the element count; since both shapes are written in the op, backward restores the input's
// shape exactly without knowing it (the inverse is the same op with the shapes swapped). A
// tensor matching T of another shape is an error. On an expert-parallel shard, a reshape that
// merges or splits the expert dim is refused.
//
// Lowers to: one reshape view per key, after a contiguous copy where the input's strides
// cannot express the new shape.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape_rules.h"

namespace chainconv {
namespace {

// A shape of sizes >= 0 with at most one -1.
std::vector<int64_t> parse_shape(const Node& node, Compiler& c) {
  std::vector<int64_t> shape;
  bool inferred = false;
  for (const Node& item : node.list("a shape (a list of sizes)")) {
    const int64_t size = integer_arg(c, item, "a size (>= 0, or -1 once)");
    if (size < -1)
      c.report(item.pos(), "schema", "expected a size >= 0 or -1, found " + std::to_string(size));
    if (size == -1 && inferred)
      c.report(item.pos(), "schema", "-1 may appear only once in a shape");
    inferred |= size == -1;
    shape.push_back(size);
  }
  return shape;
}

int64_t known_elements(const std::vector<int64_t>& shape, bool& inferred) {
  int64_t n = 1;
  inferred = false;
  for (int64_t s : shape) s == -1 ? void(inferred = true) : void(n *= s);
  return n;
}

OpPtr parse_reshape(const Node& op, Compiler& c) {
  Node args = c.args(op, "reshape", {"key", "from", "to"});
  KeyTemplate key = c.key(args.required("key", "'reshape'"));
  Node from_node = args.required("from", "'reshape'"), to_node = args.required("to", "'reshape'");
  std::vector<int64_t> from = parse_shape(from_node, c), to = parse_shape(to_node, c);
  bool from_inferred = false, to_inferred = false;
  const int64_t a = known_elements(from, from_inferred), b = known_elements(to, to_inferred);
  // With no -1 both sides the counts must be equal; with one -1 the other side's count must be
  // a multiple of this side's (else no tensor could ever fit).
  if (!from_inferred && !to_inferred && a != b)
    c.report(to_node.pos(), "schema",
             "'to' " + shape_pattern_str(to) + " has " + std::to_string(b) +
                 " elements but 'from' " + shape_pattern_str(from) + " has " + std::to_string(a));
  else if (!from_inferred && to_inferred && b != 0 && a % b != 0)
    c.report(to_node.pos(), "schema",
             "'to' " + shape_pattern_str(to) + " cannot hold the " + std::to_string(a) +
                 " elements of 'from' " + shape_pattern_str(from));
  else if (from_inferred && !to_inferred && a != 0 && b % a != 0)
    c.report(from_node.pos(), "schema",
             "'from' " + shape_pattern_str(from) + " cannot hold the " + std::to_string(b) +
                 " elements of 'to' " + shape_pattern_str(to));
  return std::make_unique<ShapeStepOp>(op.pos(), "reshape", std::move(key),
                                       ShapeStep::reshape(std::move(from), std::move(to)));
}

}  // namespace

CHAINCONV_REGISTER_OP("reshape", parse_reshape)

}  // namespace chainconv
