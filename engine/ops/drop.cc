// drop: {keys: T | [T, ...], prefix: P. | [P., ...], when: both | to_prime | to_hf}
//
// Removes keys that exist on one side only (prime-only buffers, HF-only MTP heads). A drop
// never invents data for the other side, so it is lossy by design: the checks expect the
// dropped keys to be missing after a roundtrip. `when` limits it to one direction.
//
// Lowers to: one drop step per key.
#include "dsl/compiler.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Drop final : public Op {
 public:
  Drop(Position pos, std::vector<KeyTemplate> templates, bool forward, bool backward)
      : Op(std::move(pos)),
        templates_(std::move(templates)),
        on_forward_(forward),
        on_backward_(backward) {}

  std::string_view kind() const override { return "drop"; }
  void forward(Context& ctx) const override {
    if (on_forward_) drop(ctx);
  }
  void backward(Context& ctx) const override {
    if (on_backward_) drop(ctx);
  }

  void footprint(Direction d, Footprint& out) const override {
    if (d == Direction::to_prime ? on_forward_ : on_backward_)
      for (const KeyTemplate& t : templates_) out.reads.push_back(&t);
  }

  std::string lossy() const override { return "dropped keys are not restored"; }
  bool acts_per_key() const override { return true; }

 private:
  void drop(Context& ctx) const {
    for (const KeyTemplate& t : templates_) {
      for (const TemplateMatch& m : t.matches(ctx.dict, ctx.scope))
        ctx.program.add_drop(*this, ctx.take(m));
    }
  }

  std::vector<KeyTemplate> templates_;
  bool on_forward_;
  bool on_backward_;
};

OpPtr parse_drop(const Node& op, Compiler& c) {
  Node args = c.args(op, "drop", {"keys", "prefix", "when"});
  std::vector<KeyTemplate> templates;
  if (args.has("keys")) templates = c.keys(args["keys"]);
  if (args.has("prefix"))
    for (const Node& p : args["prefix"].one_or_many("a key prefix or a list of them"))
      templates.push_back(c.key(p, true));
  if (templates.empty()) throw args.error("'drop' needs 'keys' or 'prefix'");
  std::string when = args.has("when") ? args["when"].str() : "both";
  if (when != "both" && when != "to_prime" && when != "to_hf")
    throw args["when"].error("expected 'both', 'to_prime' or 'to_hf', found '" + when + "'");
  return std::make_unique<Drop>(op.pos(), std::move(templates), when != "to_hf",
                                when != "to_prime");
}

}  // namespace

CHAINCONV_REGISTER_OP("drop", parse_drop)

}  // namespace chainconv
