// split: {from: ...experts.gate_up_proj, into: [...experts.w1, ...experts.w3], dim: 1,
//         sizes: [a, b]}
//
// Forward splits each tensor matching `from` along an existing dim into the `into` parts,
// equal by default or of the declared sizes. Backward concatenates the parts back (all must
// be present, same dtype).
//
// Lowers to: forward, one narrow view per part; backward, one concat step.
#include <map>
#include <numeric>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Split final : public Op {
 public:
  Split(Position pos, KeyTemplate from, std::vector<KeyTemplate> into, IntArg dim,
        std::vector<IntArg> sizes)
      : Op(std::move(pos)),
        from_(std::move(from)),
        into_(std::move(into)),
        dim_(dim),
        sizes_(std::move(sizes)) {}

  std::string_view kind() const override { return "split"; }

  void forward(Context& ctx) const override {
    // Evaluated once, for the first match: a key set this op does not touch needs no value.
    bool evaluated = false;
    int64_t dim_arg = 0;
    std::vector<int64_t> declared;
    auto evaluate = [&] {
      if (evaluated) return;
      evaluated = true;
      dim_arg = dim_.value(ctx.params);
      for (const IntArg& size : sizes_) {
        declared.push_back(size.value(ctx.params));
        if (declared.back() <= 0)
          throw Error(size.pos(), "split: size " + size.text() + " is " +
                                      std::to_string(declared.back()) +
                                      ", expected a positive size");
      }
    };
    for (const TemplateMatch& m : from_.matches(ctx.dict, ctx.scope)) {
      evaluate();
      const TensorDesc& t = ctx.desc(m.slot);
      const int64_t dim = checked_dim(ctx, m.key, t.dim(), dim_arg);
      const int64_t length = t.shape[dim];
      const std::vector<int64_t> sizes = part_sizes(length, declared);
      const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
      if (sizes_.empty() && length % static_cast<int64_t>(into_.size()) != 0) {
        throw ctx.error(*this, "'" + std::string(m.key) + "' has size " + std::to_string(length) +
                                   " along dim " + std::to_string(dim_arg) +
                                   ", not divisible into " + std::to_string(into_.size()) +
                                   " equal parts");
      } else if (total != length) {
        throw ctx.error(*this, "'" + std::string(m.key) + "' has size " + std::to_string(length) +
                                   " along dim " + std::to_string(dim_arg) +
                                   " but the parts add up to " + std::to_string(total));
      }
      std::vector<std::string> keys;
      for (const KeyTemplate& part : into_) {
        keys.push_back(part.expand(m.bindings));
        ctx.require_free(*this, keys.back());
      }
      const uint32_t whole = ctx.take(m);
      int64_t start = 0;
      for (size_t i = 0; i < into_.size(); ++i) {
        ViewSpec part{ViewSpec::Kind::narrow, dim, start, sizes[i]};
        ctx.put(*this, ctx.program.add_view(*this, whole, part, std::move(keys[i])));
        start += sizes[i];
      }
    }
  }

  void backward(Context& ctx) const override {
    // Every binding for which some part is present must have all of them.
    std::map<std::string, Bindings> wholes;
    for (const KeyTemplate& part : into_)
      for (const TemplateMatch& m : part.matches(ctx.dict, ctx.scope))
        wholes.emplace(from_.expand(m.bindings), m.bindings);
    for (const auto& [whole, bindings] : wholes) {
      std::vector<std::string> inputs;
      std::vector<uint32_t> parts;
      for (const KeyTemplate& part : into_) {
        std::string key = part.expand(bindings);
        const uint32_t* slot = ctx.find(key);
        if (!slot)
          throw ctx.error(*this, "cannot rebuild '" + whole + "': part '" + key + "' is missing");
        if (!parts.empty() && ctx.desc(*slot).dtype != ctx.desc(parts.front()).dtype)
          throw ctx.error(*this, "cannot rebuild '" + whole + "': part '" + key +
                                     "' has another dtype than '" + inputs.front() + "'");
        inputs.push_back(std::move(key));
        parts.push_back(*slot);
      }
      const TensorDesc& first = ctx.desc(parts.front());
      const int64_t dim_arg = dim_.value(ctx.params);  // per rebuilt tensor, never per key set
      const int64_t dim = checked_dim(ctx, inputs.front(), first.dim(), dim_arg);
      for (size_t i = 1; i < parts.size(); ++i) {
        std::vector<int64_t> a = first.shape, b = ctx.desc(parts[i]).shape;
        if (a.size() == b.size()) a[dim] = b[dim] = 0;
        if (a != b)
          throw ctx.error(*this, "cannot rebuild '" + whole + "': part '" + inputs[i] +
                                     "' does not match '" + inputs.front() + "' outside dim " +
                                     std::to_string(dim_arg));
      }
      for (const std::string& key : inputs) ctx.dict.erase(key);
      ctx.put(*this, ctx.program.add_concat(*this, parts, dim, whole));
    }
  }

  void footprint(Direction d, Footprint& out) const override {
    auto& in = d == Direction::to_prime ? out.reads : out.writes;
    auto& parts = d == Direction::to_prime ? out.writes : out.reads;
    in.push_back(&from_);
    for (const KeyTemplate& t : into_) parts.push_back(&t);
  }

 private:
  // The declared sizes, or `length` cut into equal parts (forward checks that they add up).
  std::vector<int64_t> part_sizes(int64_t length, const std::vector<int64_t>& declared) const {
    if (!declared.empty()) return declared;
    return std::vector<int64_t>(into_.size(), length / static_cast<int64_t>(into_.size()));
  }

  int64_t checked_dim(const Context& ctx, std::string_view key, int64_t ndim, int64_t dim) const {
    if (dim >= ndim || dim < -ndim)
      throw ctx.error(*this, "'" + std::string(key) + "' has " + std::to_string(ndim) +
                                 " dims, no dim " + std::to_string(dim));
    return dim < 0 ? dim + ndim : dim;
  }

  KeyTemplate from_;
  std::vector<KeyTemplate> into_;
  IntArg dim_;
  std::vector<IntArg> sizes_;
};

OpPtr parse_split(const Node& op, Compiler& c) {
  Node args = c.args(op, "split", {"from", "into", "dim", "sizes"});
  Node into = args.required("into", "'split'");
  std::vector<KeyTemplate> parts;
  for (const Node& part : into.list("a list of at least two key templates"))
    parts.push_back(c.key(part));
  if (parts.size() < 2) throw into.error("'into' needs at least two parts");
  std::vector<IntArg> sizes;
  if (args.has("sizes")) {
    Node sizes_node = args["sizes"];
    for (const Node& s : sizes_node.list("a list of sizes")) {
      sizes.push_back(c.integer(s, "a positive size"));
      if (sizes.back().is_constant() && sizes.back().value(no_params()) <= 0)
        throw s.error("expected a positive size");
    }
    if (sizes.size() != parts.size())
      throw sizes_node.error("'sizes' has " + std::to_string(sizes.size()) + " entries for " +
                             std::to_string(parts.size()) + " parts");
  }
  IntArg dim = args.has("dim") ? c.integer(args["dim"]) : IntArg(0);
  KeyTemplate from = c.key(args.required("from", "'split'"));
  for (const KeyTemplate& part : parts) require_same_placeholders(c, from, part);
  return std::make_unique<Split>(op.pos(), std::move(from), std::move(parts), dim,
                                 std::move(sizes));
}

}  // namespace

CHAINCONV_REGISTER_OP("split", parse_split)

}  // namespace chainconv
