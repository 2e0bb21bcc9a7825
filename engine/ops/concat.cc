// concat: {from: [...mlp.gate_proj.weight, ...mlp.up_proj.weight], to: ...mlp.gate_up_proj,
//          dim: 0, sizes: [a, b]}
//
// Forward concatenates the `from` tensors of each binding (all present, one dtype, the same
// shape outside `dim`) along `dim` into `to`. Backward splits `to` back into views. Backward
// knows the parts' sizes from the op's arguments alone: `sizes` when given, otherwise equal
// parts; forward checks that the parts have exactly those sizes (or are equal), so the split
// always gives back what was concatenated. On an expert-parallel shard, concatenating along
// the expert dim is refused.
//
// Lowers to: forward, one concat step; backward, one narrow view per part.
#include <map>
#include <numeric>

#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Concat final : public Op {
 public:
  Concat(Position pos, std::vector<KeyTemplate> from, KeyTemplate to, int64_t dim,
         std::vector<int64_t> sizes)
      : Op(std::move(pos)),
        from_(std::move(from)),
        to_(std::move(to)),
        dim_(dim),
        sizes_(std::move(sizes)) {}

  std::string_view kind() const override { return "concat"; }

  void forward(Context& ctx) const override {
    // Every binding for which some part is present must have all of them.
    std::map<std::string, Bindings> wholes;
    for (const KeyTemplate& part : from_)
      for (const TemplateMatch& m : part.matches(ctx.dict, ctx.scope))
        wholes.emplace(to_.expand(m.bindings), m.bindings);
    for (const auto& [whole, bindings] : wholes) {
      std::vector<std::string> keys;
      std::vector<uint32_t> parts;
      for (const KeyTemplate& part : from_) {
        std::string key = part.expand(bindings);
        const uint32_t* slot = ctx.find(key);
        if (!slot)
          throw ctx.error(*this, "cannot make '" + whole + "': part '" + key + "' is missing");
        keys.push_back(std::move(key));
        parts.push_back(*slot);
      }
      const TensorDesc& first = ctx.desc(parts.front());
      const int64_t dim = tensor_dim(ctx, *this, keys.front(), first.dim(), dim_);
      for (size_t i = 0; i < parts.size(); ++i) {
        const TensorDesc& d = ctx.desc(parts[i]);
        if (d.dtype != first.dtype)
          throw ctx.error(*this, "cannot make '" + whole + "': part '" + keys[i] + "' has dtype " +
                                     std::string(d.dtype->name) + " but '" + keys.front() +
                                     "' has " + std::string(first.dtype->name) +
                                     " (no silent casts)");
        std::vector<int64_t> a = first.shape, b = d.shape;
        if (a.size() == b.size()) a[dim] = b[dim] = 0;
        if (a != b)
          throw ctx.error(*this, "cannot make '" + whole + "': part '" + keys[i] + "' " +
                                     shape_str(d.shape) + " does not match '" + keys.front() +
                                     "' " + shape_str(first.shape) + " outside dim " +
                                     std::to_string(dim_));
        const int64_t expected = sizes_.empty() ? first.shape[dim] : sizes_[i];
        if (d.shape[dim] != expected)
          throw ctx.error(*this, "cannot make '" + whole + "': part '" + keys[i] + "' has size " +
                                     std::to_string(d.shape[dim]) + " along dim " +
                                     std::to_string(dim_) + " but backward would split off " +
                                     std::to_string(expected) +
                                     (sizes_.empty() ? " (equal parts; give 'sizes')" : ""));
        refuse_on_shard(ctx, *this, keys[i], d, d.expert_dim == dim,
                        "concatenate along dim " + std::to_string(dim_));
      }
      ctx.require_free(*this, whole);
      for (const std::string& key : keys) ctx.dict.erase(key);
      ctx.put(*this, ctx.program.add_concat(*this, parts, dim, whole));
    }
  }

  void backward(Context& ctx) const override {
    for (const TemplateMatch& m : to_.matches(ctx.dict, ctx.scope)) {
      const TensorDesc& t = ctx.desc(m.slot);
      const std::string key(m.key);
      const int64_t dim = tensor_dim(ctx, *this, key, t.dim(), dim_);
      const int64_t length = t.shape[dim];
      const auto parts = static_cast<int64_t>(from_.size());
      std::vector<int64_t> sizes = sizes_;
      if (sizes.empty()) {
        if (length % parts != 0)
          throw ctx.error(*this, "'" + key + "' has size " + std::to_string(length) +
                                     " along dim " + std::to_string(dim_) +
                                     ", not divisible into " + std::to_string(parts) +
                                     " equal parts");
        sizes.assign(from_.size(), length / parts);
      }
      const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
      if (total != length)
        throw ctx.error(*this, "'" + key + "' has size " + std::to_string(length) + " along dim " +
                                   std::to_string(dim_) + " but the parts add up to " +
                                   std::to_string(total));
      refuse_on_shard(ctx, *this, key, t, t.expert_dim == dim,
                      "split along dim " + std::to_string(dim_));
      std::vector<std::string> keys;
      for (const KeyTemplate& part : from_) {
        keys.push_back(part.expand(m.bindings));
        ctx.require_free(*this, keys.back());
      }
      const uint32_t whole = ctx.take(m);
      int64_t start = 0;
      for (size_t i = 0; i < keys.size(); ++i) {
        ViewSpec part{ViewSpec::Kind::narrow, dim, start, sizes[i]};
        ctx.put(*this, ctx.program.add_view(*this, whole, part, std::move(keys[i])));
        start += sizes[i];
      }
    }
  }

  void footprint(Direction d, Footprint& out) const override {
    auto& parts = d == Direction::to_prime ? out.reads : out.writes;
    auto& whole = d == Direction::to_prime ? out.writes : out.reads;
    for (const KeyTemplate& t : from_) parts.push_back(&t);
    whole.push_back(&to_);
  }

 private:
  std::vector<KeyTemplate> from_;
  KeyTemplate to_;
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

OpPtr parse_concat(const Node& op, Compiler& c) {
  Node args = c.args(op, "concat", {"from", "to", "dim", "sizes"});
  Node from_node = args.required("from", "'concat'");
  std::vector<KeyTemplate> parts;
  for (const Node& part : from_node.list("a list of at least two key templates"))
    parts.push_back(c.key(part));
  if (parts.size() < 2) throw from_node.error("'from' needs at least two parts");
  std::vector<int64_t> sizes;
  if (args.has("sizes")) {
    Node sizes_node = args["sizes"];
    for (const Node& s : sizes_node.list("a list of sizes")) {
      sizes.push_back(integer_arg(c, s, "a positive size"));
      if (sizes.back() <= 0) c.report(s.pos(), "schema", "expected a positive size");
    }
    if (sizes.size() != parts.size())
      c.report(sizes_node.pos(), "schema",
               "'sizes' has " + std::to_string(sizes.size()) + " entries for " +
                   std::to_string(parts.size()) + " parts");
  }
  int64_t dim = args.has("dim") ? integer_arg(c, args["dim"], "a dim") : 0;
  KeyTemplate to = c.key(args.required("to", "'concat'"));
  for (const KeyTemplate& part : parts) require_same_placeholders(c, to, part);
  return std::make_unique<Concat>(op.pos(), std::move(parts), std::move(to), dim, std::move(sizes));
}

}  // namespace

CHAINCONV_REGISTER_OP("concat", parse_concat)

}  // namespace chainconv
