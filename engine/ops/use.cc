// use: PIECE
// with: {param: value, ...}
//
// Plays a named piece (defined under `pieces:` in this file or an included one) with its
// parameters substituted for ${param} in every string. Forward plays the piece's ops in
// order, backward their inverses in reverse order, exactly as if they were written here.
#include "dsl/compiler.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Sequence final : public Op {
 public:
  Sequence(SourcePos pos, std::string name, OpList ops)
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

}  // namespace

OpPtr parse_use(const Node& op, Compiler& c) {
  op.allow_only({"use", "with"}, "a 'use' op");
  Node name_node = op["use"];
  std::string name = name_node.str("a piece name");
  const PieceDef* piece = c.find_piece(name);
  if (!piece) {
    std::string known;
    for (const auto& [n, p] : c.pieces()) known += (known.empty() ? "" : ", ") + n;
    throw name_node.error("undefined piece '" + name + "'" + (known.empty() ? "" : " (defined: " + known + ")"));
  }
  auto params = std::make_shared<PieceParams>();
  if (op.has("with")) {
    for (const auto& [key, value] : op["with"].entries("a mapping of piece parameters")) {
      std::string param = key.str();
      if (std::find(piece->params.begin(), piece->params.end(), param) == piece->params.end())
        throw key.error("piece '" + name + "' has no parameter '" + param + "'");
      (*params)[param] = value.str("a string value for parameter '" + param + "'");
    }
  }
  for (const std::string& param : piece->params)
    if (!params->count(param)) throw op.error("piece '" + name + "' needs parameter '" + param + "'");

  Compiler::UseGuard guard(c, name, name_node);
  try {
    return std::make_unique<Sequence>(op.pos(), name, c.ops(piece->ops.with_params(params)));
  } catch (const Error& e) {
    if (e.message().find(" (in piece '") != std::string::npos) throw;
    throw Error(e.pos(), e.message() + " (in piece '" + name + "' used at " + op.pos().str() + ")");
  }
}

}  // namespace chainconv
