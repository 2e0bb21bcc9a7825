// permute: {key: T, dims: [1, 0, 2]}
//
// Forward permutes the dims of every tensor matching T (output dim i is input dim dims[i]; a
// tensor with another number of dims is an error); backward applies the inverse permutation.
// The expert dim of a shard moves with the permutation, so a shard is never refused.
//
// Lowers to: one permute view per key.
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape_rules.h"

namespace chainconv {
namespace {

OpPtr parse_permute(const Node& op, Compiler& c) {
  Node args = c.args(op, "permute", {"key", "dims"});
  KeyTemplate key = c.key(args.required("key", "'permute'"));
  Node dims_node = args.required("dims", "'permute'");
  std::vector<int64_t> dims = integer_list_arg(c, dims_node, "dims");
  std::vector<bool> seen(dims.size(), false);
  for (int64_t d : dims) {
    if (d < 0 || d >= static_cast<int64_t>(dims.size()) || seen[static_cast<size_t>(d)]) {
      c.report(dims_node.pos(), "schema",
               "'dims' " + shape_pattern_str(dims) + " is not a permutation of 0.." +
                   std::to_string(static_cast<int64_t>(dims.size()) - 1));
      break;
    }
    seen[static_cast<size_t>(d)] = true;
  }
  if (dims.empty()) c.report(dims_node.pos(), "schema", "'dims' is empty");
  return std::make_unique<ShapeStepOp>(op.pos(), "permute", std::move(key),
                                       ShapeStep::permute(std::move(dims)));
}

}  // namespace

CHAINCONV_REGISTER_OP("permute", parse_permute)

}  // namespace chainconv
