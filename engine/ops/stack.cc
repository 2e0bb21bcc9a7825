// stack: {from: ...experts.{expert}.gate_proj.weight, to: ...experts.w1, index: expert,
//         dim: 0, offset: expert_offset | none}
//
// Forward groups the keys matching `from` by their other placeholders (the layer, say) and
// stacks each group along a new dim `dim`, in numeric index order. Indices must run
// contiguously from the run's expert offset (a shard holding experts o..o+n-1 stacks them
// into rows 0..n-1); a gap is an error naming the missing key, mixed dtypes or shapes are
// an error. Backward unstacks row r into index offset + r.
//
// Lowers to: forward, one stack step per group; backward, one select view per row.
#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include "core/text.h"
#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

// A number that sorts as `index`'s decimal text (`digits` long) does: its digits moved to
// the front of 17 places ("1" and "10" as 10^16, "2" as 2 x 10^16), the shorter first. Longer
// indices are given no order; the dict still places them right, found from its root.
uint64_t text_order(int64_t index, size_t digits) {
  if (digits > 17) return std::numeric_limits<uint64_t>::max();
  auto scaled = static_cast<uint64_t>(index);
  for (size_t d = digits; d < 17; ++d) scaled *= 10;
  return scaled * 32 + digits;
}

class Stack final : public Op {
 public:
  Stack(Position pos, KeyTemplate from, KeyTemplate to, std::string index, IntArg dim,
        bool use_offset)
      : Op(std::move(pos)),
        from_(std::move(from)),
        to_(std::move(to)),
        index_(std::move(index)),
        dim_(dim),
        use_offset_(use_offset) {}

  std::string_view kind() const override { return "stack"; }

  void forward(Context& ctx) const override {
    struct Member {
      int64_t index;
      const KeyMatch* match;
    };
    struct Group {
      std::string target;
      std::vector<Member> members;
    };
    // Members group by their values other than the index (the layer, usually): the group
    // id is those values joined, and the target key is made once per group, not per member.
    // Matches are views: a key's bindings are made only for its group's target or an error.
    const std::vector<KeyMatch> found = from_.match_views(ctx.dict, ctx.scope);
    if (found.empty()) return;
    const int index = from_.placeholder_index(index_);
    if (index < 0)
      throw ctx.error(*this, "'" + from_.text() + "' has no placeholder {" + index_ + "}");
    const size_t placeholders = from_.placeholders().size();
    std::map<std::string, Group> groups;
    std::string id;
    auto group = groups.end();  // the last member's: members of one group mostly come together
    for (const KeyMatch& m : found) {
      id.clear();
      for (size_t i = 0; i < placeholders; ++i)
        if (static_cast<int>(i) != index) id.append(m.values[i]).push_back('.');
      if (group == groups.end() || id != group->first) {
        group = groups.try_emplace(id).first;
        Group& g = group->second;
        if (g.target.empty()) g.target = to_.expand(from_.bindings_of(m, ctx.scope));
      }
      group->second.members.push_back(
          {index_value(ctx, *this, m.key(), index_, m.values[index]), &m});
    }
    const int64_t offset = offset_of(ctx);
    std::vector<uint32_t> slots;
    const int64_t stack_dim = dim_.value(ctx.params);
    for (auto& [group_key, g] : groups) {
      const std::string& target = g.target;
      std::vector<Member>& members = g.members;
      std::sort(members.begin(), members.end(),
                [](const Member& a, const Member& b) { return a.index < b.index; });
      const TensorDesc& first = ctx.desc(members.front().match->slot());
      const std::string first_key(members.front().match->key());
      slots.clear();
      for (size_t r = 0; r < members.size(); ++r) {
        const int64_t expected = offset + static_cast<int64_t>(r);
        const KeyMatch& m = *members[r].match;
        if (members[r].index != expected)
          throw ctx.error(*this, "cannot stack '" + target + "': " +
                                     gap(m.key(), members[r].index, expected, offset,
                                         from_.bindings_of(m, ctx.scope)) +
                                     " (indices must run contiguously from " +
                                     std::to_string(offset) + ")");
        const TensorDesc& d = ctx.desc(m.slot());
        if (d.dtype != first.dtype)
          throw ctx.error(*this, "cannot stack '" + target + "': '" + std::string(m.key()) +
                                     "' has dtype " + std::string(d.dtype->name) + " but '" +
                                     first_key + "' has " + std::string(first.dtype->name) +
                                     " (no silent casts)");
        if (d.shape != first.shape)
          throw ctx.error(*this, "cannot stack '" + target + "': '" + std::string(m.key()) +
                                     "' has shape " + shape_str(d.shape) + " but '" + first_key +
                                     "' has " + shape_str(first.shape));
        slots.push_back(m.slot());
      }
      if (stack_dim < -(first.dim() + 1) || stack_dim > first.dim())
        throw ctx.error(*this, "dim " + std::to_string(stack_dim) +
                                   " is out of range for stacking " + std::to_string(first.dim()) +
                                   "-d tensors");
      for (const Member& member : members) ctx.take(*member.match);
      const int64_t dim = stack_dim < 0 ? stack_dim + first.dim() + 1 : stack_dim;
      const uint32_t stacked = ctx.program.add_stack(*this, slots, dim, target);
      if (use_offset_) ctx.program.mark_expert_dim(stacked, dim);
      ctx.put(*this, stacked);
    }
  }

  void backward(Context& ctx) const override {
    const int64_t offset = offset_of(ctx);
    for (const TemplateMatch& m : to_.matches(ctx.dict, ctx.scope)) {
      const int64_t stack_dim = dim_.value(ctx.params);  // per stacked tensor: a layer's
      const TensorDesc& t = ctx.desc(m.slot);
      if (stack_dim >= t.dim() || stack_dim < -t.dim())
        throw ctx.error(*this, "'" + std::string(m.key) + "' has " + std::to_string(t.dim()) +
                                   " dims, too few to unstack along dim " +
                                   std::to_string(stack_dim));
      const int64_t dim = stack_dim < 0 ? stack_dim + t.dim() : stack_dim;
      const int64_t rows = t.shape[dim];
      const uint32_t stacked = ctx.take(m);
      // The rows' keys differ in the index alone: each joins the text around it. Their slots
      // are made in row order (the executor unbinds them at once); they enter the dict in
      // key order ("10" before "2"), each found from the last one's entry, not the root.
      const auto [before, after] = from_.expand_around(m.bindings, index_);
      std::vector<std::pair<uint64_t, uint32_t>> in_key_order;  // (text_order, slot)
      in_key_order.reserve(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        char digits[24];
        const auto length = static_cast<size_t>(
            std::to_chars(digits, digits + sizeof digits, offset + r).ptr - digits);
        std::string key;
        key.reserve(before.size() + length + after.size());
        key.append(before).append(digits, length).append(after);
        ViewSpec row{ViewSpec::Kind::select, dim, r, 0};
        in_key_order.emplace_back(text_order(offset + r, length),
                                  ctx.program.add_view(*this, stacked, row, std::move(key)));
      }
      std::sort(in_key_order.begin(), in_key_order.end());
      if (!in_key_order.empty()) {
        auto near = ctx.dict.lower_bound(ctx.program.name(in_key_order.front().second));
        for (const auto& [order, slot] : in_key_order) near = ctx.put_near(*this, slot, near);
      }
      if (rows == 0) ctx.program.add_drop(*this, stacked);
    }
  }

  bool acts_per_value_of(const std::string& name) const override { return name != index_; }

  void footprint(Direction d, Footprint& out) const override {
    out.reads.push_back(d == Direction::to_prime ? &from_ : &to_);
    out.writes.push_back(d == Direction::to_prime ? &to_ : &from_);
  }

 private:
  int64_t offset_of(const Context& ctx) const {
    return use_offset_ ? ctx.options.expert_offset : 0;
  }

  // Why the member at `expected`'s place does not fit: a missing key, a duplicate, or an
  // index below the shard's offset.
  std::string gap(std::string_view key, int64_t index, int64_t expected, int64_t offset,
                  Bindings bindings) const {
    if (index < offset)
      return "'" + std::string(key) + "' is below the expert offset " + std::to_string(offset);
    if (index < expected)
      return "index " + std::to_string(index) + " appears twice ('" + std::string(key) + "')";
    bindings.set(index_, std::to_string(expected));
    return "key '" + from_.expand(bindings) + "' is missing";
  }

  KeyTemplate from_;
  KeyTemplate to_;
  std::string index_;
  IntArg dim_;
  bool use_offset_;
};

OpPtr parse_stack(const Node& op, Compiler& c) {
  Node args = c.args(op, "stack", {"from", "to", "index", "dim", "offset"});
  std::string index = args.has("index") ? args["index"].str("a placeholder name") : "expert";
  IntArg dim = args.has("dim") ? c.integer(args["dim"]) : IntArg(0);
  bool use_offset = true;
  if (args.has("offset")) {
    std::string offset = args["offset"].str();
    if (offset != "expert_offset" && offset != "none")
      throw args["offset"].error("expected 'expert_offset' or 'none', found '" + offset + "'");
    use_offset = offset == "expert_offset";
  }
  KeyTemplate from = c.key(args.required("from", "'stack'"));
  KeyTemplate to = c.key(args.required("to", "'stack'"));
  if (!from.has_placeholder(index)) {
    c.report(from.pos(), "placeholder",
             "'" + from.text() + "' has no placeholder {" + index + "} to stack on");
  } else if (to.has_placeholder(index)) {
    c.report(to.pos(), "placeholder",
             "'" + to.text() + "' must not contain the stacking index {" + index + "}");
  } else {
    for (const Placeholder& ph : from.placeholders())
      if (ph.name == index && ph.type != PlaceholderType::digits)
        c.report(from.pos(), "placeholder",
                 "the stacking index {" + index + "} must be a digits placeholder");
    require_same_placeholders(c, from, to, {index});
  }
  return std::make_unique<Stack>(op.pos(), std::move(from), std::move(to), std::move(index), dim,
                                 use_offset);
}

}  // namespace

CHAINCONV_REGISTER_OP("stack", parse_stack)

}  // namespace chainconv
