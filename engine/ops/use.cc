// use: PIECE
// with: {param: value, ...}
//
// Plays a named piece (defined under `pieces:` in this file or an included one) with its
// parameters substituted for ${param} in every string. Forward plays the piece's ops in
// order, backward their inverses in reverse order, exactly as if they were written here.
//
// Lowers to: what the piece's ops lower to.
#include <algorithm>

#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Sequence final : public Op {
 public:
  Sequence(Position pos, std::string name, OpList ops)
      : Op(std::move(pos)), name_(std::move(name)), ops_(std::move(ops)) {}

  std::string_view kind() const override { return "use"; }
  void forward(Context& ctx) const override { run_ops(ops_, ctx); }
  void backward(Context& ctx) const override { run_ops(ops_, ctx); }
  void footprint(Direction d, Footprint& out) const override {
    for (const OpPtr& op : ops_) op->footprint(d, out);
  }
  std::vector<const Op*> children() const override {
    std::vector<const Op*> all;
    for (const OpPtr& op : ops_) all.push_back(op.get());
    return all;
  }

 private:
  std::string name_;
  OpList ops_;
};

OpPtr parse_use(const Node& op, Compiler& c) {
  op.allow_only({"use", "with"}, "a 'use' op");
  Node name_node = op["use"];
  std::string name = name_node.str("a piece name");
  const PieceDef* piece = c.find_piece(name);
  if (!piece) {
    std::string known = joined_keys(c.pieces());
    throw CheckError(
        name_node.pos(), "reference",
        "undefined piece '" + name + "'" + (known.empty() ? "" : " (defined: " + known + ")"));
  }
  auto params = std::make_shared<PieceParams>();
  bool complete = true;
  if (op.has("with")) {
    for (const auto& [key, value] : op["with"].entries("a mapping of piece parameters")) {
      std::string param = key.str();
      if (std::find(piece->params.begin(), piece->params.end(), param) == piece->params.end()) {
        c.report(key.pos(), "reference", "piece '" + name + "' has no parameter '" + param + "'");
        continue;
      }
      try {
        (*params)[param] = value.str("a string value for parameter '" + param + "'");
      } catch (const Error& e) {
        c.absorb(e);
        complete = false;
      }
    }
  }
  for (const std::string& param : piece->params)
    if (complete && !params->count(param)) {
      c.report(op.pos(), "reference", "piece '" + name + "' needs parameter '" + param + "'");
      complete = false;
    }
  if (!complete) return std::make_unique<Sequence>(op.pos(), name, OpList{});

  Compiler::UseGuard guard(c, name, name_node);
  if (c.collecting())  // each problem is reported where it is, in the piece
    return std::make_unique<Sequence>(op.pos(), name, c.ops(piece->ops.with_params(params)));
  try {
    return std::make_unique<Sequence>(op.pos(), name, c.ops(piece->ops.with_params(params)));
  } catch (const Error& e) {
    if (c.use_depth() > 1) throw;  // the outermost use says where the piece was used
    throw Error(e.pos(), e.message() + " (in piece '" + name + "' used at " + op.pos().str() + ")");
  }
}

}  // namespace

CHAINCONV_REGISTER_OP("use", parse_use)

}  // namespace chainconv
