// split: {from: ...experts.gate_up_proj, into: [...experts.w1, ...experts.w3], dim: 1,
//         sizes: [a, b]}
//
// Forward splits each tensor matching `from` along an existing dim into the `into` parts,
// equal by default or of the declared sizes; the parts are views (narrow), nothing copied.
// Backward concatenates the parts back (all must be present, same dtype).
#include <ATen/ops/cat.h>

#include <map>
#include <numeric>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Split final : public Op {
 public:
  Split(SourcePos pos, KeyTemplate from, std::vector<KeyTemplate> into, int64_t dim,
        std::vector<int64_t> sizes)
      : Op(std::move(pos)),
        from_(std::move(from)),
        into_(std::move(into)),
        dim_(dim),
        sizes_(std::move(sizes)) {
    for (const KeyTemplate& part : into_) require_same_placeholders(from_, part);
  }

  std::string_view kind() const override { return "split"; }

  void forward(Context& ctx) const override {
    for (const TemplateMatch& m : from_.matches(ctx.dict, ctx.scope)) {
      const Item& whole = ctx.dict.item(m.key);
      const at::Tensor& t = whole.tensor;
      const int64_t dim = checked_dim(ctx, m.key, t.dim());
      const std::vector<int64_t> sizes = part_sizes(t.size(dim));
      if (sizes_.empty() && t.size(dim) % static_cast<int64_t>(into_.size()) != 0) {
        throw ctx.error(*this, "'" + m.key + "' has size " + std::to_string(t.size(dim)) +
                                   " along dim " + std::to_string(dim_) + ", not divisible into " +
                                   std::to_string(into_.size()) + " equal parts");
      } else if (std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != t.size(dim)) {
        throw ctx.error(
            *this, "'" + m.key + "' has size " + std::to_string(t.size(dim)) + " along dim " +
                       std::to_string(dim_) + " but the parts add up to " +
                       std::to_string(std::accumulate(sizes.begin(), sizes.end(), int64_t{0})));
      }
      std::vector<Item> parts;
      cut(ctx.take(*this, m.key), dim, sizes, parts);
      std::vector<std::string> outputs;
      for (size_t i = 0; i < into_.size(); ++i) {
        outputs.push_back(into_[i].expand(m.bindings));
        ctx.insert(*this, outputs.back(), std::move(parts[i]));
      }
      ctx.step(*this, {m.key}, outputs);
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
      std::vector<at::Tensor> parts;
      std::string opaque;
      for (const KeyTemplate& part : into_) {
        std::string key = part.expand(bindings);
        const Item* item = ctx.dict.find(key);
        if (!item)
          throw ctx.error(*this, "cannot rebuild '" + whole + "': part '" + key + "' is missing");
        if (!parts.empty() && (item->tensor.scalar_type() != parts.front().scalar_type() ||
                               item->opaque_dtype != opaque))
          throw ctx.error(*this, "cannot rebuild '" + whole + "': part '" + key +
                                     "' has another dtype than '" + inputs.front() + "'");
        opaque = item->opaque_dtype;
        inputs.push_back(key);
        parts.push_back(item->tensor);
      }
      checked_dim(ctx, inputs.front(), parts.front().dim());
      Item rebuilt = join(parts, opaque);
      for (const std::string& key : inputs) ctx.dict.erase(key);
      ctx.insert(*this, whole, std::move(rebuilt));
      ctx.step(*this, inputs, {whole});
    }
  }

  void replay(StepIO& io) const override {
    if (io.direction == Direction::to_prime) {
      const Item& whole = io.in.front();
      const int64_t dim = dim_ < 0 ? dim_ + whole.tensor.dim() : dim_;
      return cut(whole, dim, part_sizes(whole.tensor.size(dim)), io.out);
    }
    std::vector<at::Tensor> parts;
    for (const Item& item : io.in) parts.push_back(item.tensor);
    io.out.push_back(join(parts, io.in.front().opaque_dtype));
  }

  void footprint(Direction d, Footprint& out) const override {
    auto& in = d == Direction::to_prime ? out.reads : out.writes;
    auto& parts = d == Direction::to_prime ? out.writes : out.reads;
    in.push_back(&from_);
    for (const KeyTemplate& t : into_) parts.push_back(&t);
  }

 private:
  // The declared sizes, or `length` cut into equal parts (forward checks that they add up).
  std::vector<int64_t> part_sizes(int64_t length) const {
    if (!sizes_.empty()) return sizes_;
    return std::vector<int64_t>(into_.size(), length / static_cast<int64_t>(into_.size()));
  }

  // The parts of `whole` along `dim`, of `sizes`, appended to `parts`: views, not copies.
  static void cut(const Item& whole, int64_t dim, const std::vector<int64_t>& sizes,
                  std::vector<Item>& parts) {
    int64_t start = 0;
    for (int64_t size : sizes) {
      parts.push_back(Item{whole.tensor.narrow(dim, start, size), whole.opaque_dtype});
      start += size;
    }
  }

  Item join(const std::vector<at::Tensor>& parts, const std::string& opaque) const {
    return Item{at::cat(parts, dim_), opaque};
  }

  int64_t checked_dim(const Context& ctx, const std::string& key, int64_t ndim) const {
    if (dim_ >= ndim || dim_ < -ndim)
      throw ctx.error(*this, "'" + key + "' has " + std::to_string(ndim) + " dims, no dim " +
                                 std::to_string(dim_));
    return dim_ < 0 ? dim_ + ndim : dim_;
  }

  KeyTemplate from_;
  std::vector<KeyTemplate> into_;
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

}  // namespace

OpPtr parse_split(const Node& op, Compiler& c) {
  Node args = c.args(op, "split", {"from", "into", "dim", "sizes"});
  Node into = args.required("into", "'split'");
  std::vector<KeyTemplate> parts;
  for (const Node& part : into.list("a list of at least two key templates"))
    parts.push_back(c.key(part));
  if (parts.size() < 2) throw into.error("'into' needs at least two parts");
  std::vector<int64_t> sizes;
  if (args.has("sizes")) {
    Node sizes_node = args["sizes"];
    for (const Node& s : sizes_node.list("a list of sizes")) {
      sizes.push_back(s.integer("a positive size"));
      if (sizes.back() <= 0) throw s.error("expected a positive size");
    }
    if (sizes.size() != parts.size())
      throw sizes_node.error("'sizes' has " + std::to_string(sizes.size()) + " entries for " +
                             std::to_string(parts.size()) + " parts");
  }
  int64_t dim = args.has("dim") ? args["dim"].integer() : 0;
  return std::make_unique<Split>(op.pos(), c.key(args.required("from", "'split'")),
                                 std::move(parts), dim, std::move(sizes));
}

}  // namespace chainconv
