// stack: {from: ...experts.{expert}.gate_proj.weight, to: ...experts.w1, index: expert,
//         dim: 0, offset: expert_offset | none}
//
// Forward groups the keys matching `from` by their other placeholders (the layer, say) and
// stacks each group along a new dim `dim`, in numeric index order. Indices must run
// contiguously from the run's expert offset (a shard holding experts o..o+n-1 stacks them
// into rows 0..n-1); a gap is an error naming the missing key, mixed dtypes are an error.
// Backward unstacks row r into index offset + r, as views of the stacked tensor.
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>
#include <c10/core/TensorImpl.h>

#include <algorithm>
#include <map>

#include "dsl/compiler.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace chainconv {
namespace {

class Stack final : public Op {
 public:
  Stack(SourcePos pos, KeyTemplate from, KeyTemplate to, std::string index, int64_t dim,
        bool use_offset)
      : Op(std::move(pos)),
        from_(std::move(from)),
        to_(std::move(to)),
        index_(std::move(index)),
        dim_(dim),
        use_offset_(use_offset) {
    if (!from_.has_placeholder(index_))
      throw Error(from_.pos(),
                  "'" + from_.text() + "' has no placeholder {" + index_ + "} to stack on");
    for (const Placeholder& ph : from_.placeholders())
      if (ph.name == index_ && ph.type != PlaceholderType::digits)
        throw Error(from_.pos(),
                    "the stacking index {" + index_ + "} must be a digits placeholder");
    if (to_.has_placeholder(index_))
      throw Error(to_.pos(),
                  "'" + to_.text() + "' must not contain the stacking index {" + index_ + "}");
    require_same_placeholders(from_, to_, {index_});
  }

  std::string_view kind() const override { return "stack"; }

  void forward(Context& ctx) const override {
    struct Member {
      int64_t index;
      const TemplateMatch* match;
    };
    struct Group {
      std::string target;
      std::vector<Member> members;
    };
    // Members group by their bindings other than the index (the layer, usually); the group
    // id is those values joined, so the target key is built once per group, not per member.
    const std::vector<TemplateMatch> found = from_.matches(ctx.dict, ctx.scope);
    std::map<std::string, Group> groups;
    for (const TemplateMatch& m : found) {
      std::string id;
      for (const auto& [name, value] : m.bindings)
        if (name != index_) id += value + '.';
      Group& group = groups[id];
      if (group.target.empty()) group.target = to_.expand(m.bindings);
      group.members.push_back({parse_index(ctx, *m.bindings.get(index_), m.key), &m});
    }
    const int64_t offset = offset_of(ctx);
    for (auto& [id, group] : groups) {
      const std::string& target = group.target;
      std::vector<Member>& members = group.members;
      std::sort(members.begin(), members.end(),
                [](const Member& a, const Member& b) { return a.index < b.index; });
      std::vector<at::Tensor> tensors;
      std::vector<std::string> inputs;
      tensors.reserve(members.size());
      inputs.reserve(members.size());
      const Item& first = *members.front().match->item;
      const std::string& first_key = members.front().match->key;
      for (size_t r = 0; r < members.size(); ++r) {
        const int64_t expected = offset + static_cast<int64_t>(r);
        const TemplateMatch& m = *members[r].match;
        if (members[r].index != expected)
          throw ctx.error(
              *this, "cannot stack '" + target +
                         "': " + gap(m.key, members[r].index, expected, offset, m.bindings) +
                         " (indices must run contiguously from " + std::to_string(offset) + ")");
        const Item& item = *m.item;
        if (item.tensor.scalar_type() != first.tensor.scalar_type() ||
            item.opaque_dtype != first.opaque_dtype)
          throw ctx.error(*this, "cannot stack '" + target + "': '" + m.key + "' has dtype " +
                                     dtype_name(item) + " but '" + first_key + "' has " +
                                     dtype_name(first) + " (no silent casts)");
        if (item.tensor.sizes() != first.tensor.sizes())
          throw ctx.error(*this, "cannot stack '" + target + "': '" + m.key + "' has shape " +
                                     shape_str(item.tensor.sizes().vec()) + " but '" + first_key +
                                     "' has " + shape_str(first.tensor.sizes().vec()));
        tensors.push_back(item.tensor);
        inputs.push_back(m.key);
      }
      if (dim_ < -(first.tensor.dim() + 1) || dim_ > first.tensor.dim())
        throw ctx.error(*this, "dim " + std::to_string(dim_) + " is out of range for stacking " +
                                   std::to_string(first.tensor.dim()) + "-d tensors");
      Item stacked{stack(tensors), first.opaque_dtype};
      for (const std::string& key : inputs) ctx.dict.erase(key);  // `first` dangles from here
      ctx.insert(*this, target, std::move(stacked));
      ctx.step(*this, inputs, {target});
    }
  }

  void backward(Context& ctx) const override {
    const int64_t offset = offset_of(ctx);
    for (const TemplateMatch& m : to_.matches(ctx.dict, ctx.scope)) {
      Item stacked = ctx.take(*this, m.key);
      const at::Tensor& t = stacked.tensor;
      if (dim_ >= t.dim() || dim_ < -t.dim())
        throw ctx.error(*this, "'" + m.key + "' has " + std::to_string(t.dim()) +
                                   " dims, too few to unstack along dim " + std::to_string(dim_));
      std::vector<Item> rows;
      unstack(stacked, rows);
      std::vector<std::string> outputs;
      Bindings b = m.bindings;
      for (size_t r = 0; r < rows.size(); ++r) {
        b.set(index_, std::to_string(offset + static_cast<int64_t>(r)));
        outputs.push_back(from_.expand(b));
        ctx.insert(*this, outputs.back(), std::move(rows[r]));
      }
      ctx.step(*this, {m.key}, outputs);
    }
  }

  void replay(StepIO& io) const override {
    if (io.direction == Direction::to_hf) return unstack(io.in.front(), io.out);
    const Item& first = io.in.front();
    if (first.tensor.is_meta())  // the shape rule needs the first member and the count only
      return io.out.push_back(Item{meta_stack(first.tensor, io.in.size()), first.opaque_dtype});
    std::vector<at::Tensor> tensors;
    tensors.reserve(io.in.size());
    for (const Item& item : io.in) tensors.push_back(item.tensor);
    io.out.push_back(Item{at::stack(tensors, dim_), first.opaque_dtype});
  }

  void footprint(Direction d, Footprint& out) const override {
    out.reads.push_back(d == Direction::to_prime ? &from_ : &to_);
    out.writes.push_back(d == Direction::to_prime ? &to_ : &from_);
  }

 private:
  // at::stack, or on meta tensors its shape rule: the metadata is the same (a contiguous
  // tensor of the members' shape with n inserted at dim_) without at::stack's per-member
  // dispatch, which dominates symbolic runs of thousands of experts. The members' shapes and
  // dtypes are equal (checked by forward, or by the replay plan).
  at::Tensor stack(const std::vector<at::Tensor>& members) const {
    const at::Tensor& first = members.front();
    return first.is_meta() ? meta_stack(first, members.size()) : at::stack(members, dim_);
  }

  at::Tensor meta_stack(const at::Tensor& first, size_t count) const {
    std::vector<int64_t> shape = first.sizes().vec();
    shape.insert(shape.begin() + (dim_ < 0 ? dim_ + first.dim() + 1 : dim_),
                 static_cast<int64_t>(count));
    return at::empty(shape, first.options());
  }

  // The rows of `stacked` along dim_, appended to `rows`: views of it.
  void unstack(const Item& stacked, std::vector<Item>& rows) const {
    const at::Tensor& t = stacked.tensor;
    const int64_t dim = dim_ < 0 ? dim_ + t.dim() : dim_;
    if (!t.is_meta()) {
      for (int64_t r = 0; r < t.size(dim); ++r)
        rows.push_back(Item{t.select(dim, r), stacked.opaque_dtype});
      return;
    }
    // What select() makes, built directly: a meta tensor has no data and no autograd history
    // here, and select()'s dispatch per row dominates symbolic runs of tens of thousands of
    // rows. The row is a view over the same storage with the row's sizes, strides and offset.
    std::vector<int64_t> sizes = t.sizes().vec(), strides = t.strides().vec();
    sizes.erase(sizes.begin() + dim);
    strides.erase(strides.begin() + dim);
    for (int64_t r = 0; r < t.size(dim); ++r) {
      auto row =
          c10::make_intrusive<c10::TensorImpl>(c10::Storage(t.storage()), t.key_set(), t.dtype());
      row->set_sizes_and_strides(sizes, strides);
      row->set_storage_offset(t.storage_offset() + r * t.stride(dim));
      rows.push_back(Item{at::Tensor(std::move(row)), stacked.opaque_dtype});
    }
  }

  int64_t offset_of(const Context& ctx) const {
    return use_offset_ ? ctx.options.expert_offset : 0;
  }

  int64_t parse_index(const Context& ctx, const std::string& text, const std::string& key) const {
    if (text.size() > 1 && text[0] == '0')
      throw ctx.error(*this, "index '" + text + "' of '" + key + "' has a leading zero");
    if (text.size() > 18)
      throw ctx.error(*this, "index '" + text + "' of '" + key + "' is too large");
    return std::stoll(text);
  }

  // Why the member at `expected`'s place does not fit: a missing key, a duplicate, or an
  // index below the shard's offset.
  std::string gap(const std::string& key, int64_t index, int64_t expected, int64_t offset,
                  Bindings bindings) const {
    if (index < offset) return "'" + key + "' is below the expert offset " + std::to_string(offset);
    if (index < expected)
      return "index " + std::to_string(index) + " appears twice ('" + key + "')";
    bindings.set(index_, std::to_string(expected));
    return "key '" + from_.expand(bindings) + "' is missing";
  }

  static std::string dtype_name(const Item& item) {
    return item.opaque_dtype.empty() ? std::string(c10::toString(item.tensor.scalar_type()))
                                     : item.opaque_dtype;
  }

  KeyTemplate from_;
  KeyTemplate to_;
  std::string index_;
  int64_t dim_;
  bool use_offset_;
};

}  // namespace

OpPtr parse_stack(const Node& op, Compiler& c) {
  Node args = c.args(op, "stack", {"from", "to", "index", "dim", "offset"});
  std::string index = args.has("index") ? args["index"].str("a placeholder name") : "expert";
  int64_t dim = args.has("dim") ? args["dim"].integer() : 0;
  bool use_offset = true;
  if (args.has("offset")) {
    std::string offset = args["offset"].str();
    if (offset != "expert_offset" && offset != "none")
      throw args["offset"].error("expected 'expert_offset' or 'none', found '" + offset + "'");
    use_offset = offset == "expert_offset";
  }
  return std::make_unique<Stack>(op.pos(), c.key(args.required("from", "'stack'")),
                                 c.key(args.required("to", "'stack'")), index, dim, use_offset);
}

}  // namespace chainconv
