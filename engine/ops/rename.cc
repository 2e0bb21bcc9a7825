// rename: {from: T | [T, T_alt, ...], to: U}
//
// Forward moves each key matching `from` to the same bindings of `to`. With several `from`
// templates, the first one present wins per binding: the alternates of a winner stay where
// they are and a warning names them, so precedence is written in the file, never an accident
// of op order. Backward moves `to` back to the first (canonical) `from`, which makes a
// forward from an alternate name canonicalising.
//
// Lowers to: one move step per key.
#include <set>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Rename final : public Op {
 public:
  Rename(Position pos, std::vector<KeyTemplate> from, KeyTemplate to)
      : Op(std::move(pos)), from_(std::move(from)), to_(std::move(to)) {}

  std::string_view kind() const override { return "rename"; }

  void forward(Context& ctx) const override {
    // Look before moving: precedence is decided on the dict as this op found it.
    std::vector<std::vector<TemplateMatch>> found;
    std::vector<std::set<std::string_view>> present(from_.size());
    for (size_t i = 0; i < from_.size(); ++i) {
      found.push_back(from_[i].matches(ctx.dict, ctx.scope));
      for (const TemplateMatch& m : found.back()) present[i].insert(m.key);
    }
    for (size_t i = 0; i < from_.size(); ++i) {
      for (const TemplateMatch& m : found[i]) {
        if (const std::string_view* winner = earlier_present(i, m.bindings, present)) {
          ctx.warn(*this, "both '" + std::string(*winner) + "' and its alternate '" +
                              std::string(m.key) + "' are present: '" + std::string(*winner) +
                              "' wins and '" + std::string(m.key) + "' is left untouched");
          continue;
        }
        if (from_.size() == 1)
          ctx.move(*this, m, to_.expand(m.bindings));
        else  // alternates may match one key twice: look it up again
          ctx.move(*this, m.key, to_.expand(m.bindings));
      }
    }
  }

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : to_.matches(ctx.dict, ctx.scope))
      ctx.move(*this, m, from_.front().expand(m.bindings));
  }

  void footprint(Direction d, Footprint& out) const override {
    if (d == Direction::to_prime) {
      for (const KeyTemplate& t : from_) out.reads.push_back(&t);
      out.writes.push_back(&to_);
    } else {
      out.reads.push_back(&to_);
      out.writes.push_back(&from_.front());
    }
  }

  std::string lossy() const override {
    return from_.size() > 1 ? "alternate names come back under the canonical name" : "";
  }

 private:
  const std::string_view* earlier_present(
      size_t i, const Bindings& b, const std::vector<std::set<std::string_view>>& present) const {
    for (size_t j = 0; j < i; ++j) {
      auto it = present[j].find(from_[j].expand(b));
      if (it != present[j].end()) return &*it;
    }
    return nullptr;
  }

  std::vector<KeyTemplate> from_;
  KeyTemplate to_;
};

OpPtr parse_rename(const Node& op, Compiler& c) {
  Node args = c.args(op, "rename", {"from", "to"});
  std::vector<KeyTemplate> from = c.keys(args.required("from", "'rename'"));
  KeyTemplate to = c.key(args.required("to", "'rename'"));
  for (const KeyTemplate& source : from) require_same_placeholders(c, source, to);
  return std::make_unique<Rename>(op.pos(), std::move(from), std::move(to));
}

}  // namespace

CHAINCONV_REGISTER_OP("rename", parse_rename)

}  // namespace chainconv
