// The rule of each primitive step on descriptions: what its output looks like and where its
// bytes are. Ops check their own preconditions (with their positions) before they add a
// step; a step that still does not fit is an internal error.
#include "program/program.h"

#include "core/text.h"

namespace chainconv {

std::string_view step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::move:
      return "move";
    case StepKind::view:
      return "view";
    case StepKind::copy:
      return "copy";
    case StepKind::stack:
      return "stack";
    case StepKind::concat:
      return "concat";
    case StepKind::compute:
      return "compute";
    case StepKind::create:
      return "create";
    case StepKind::drop:
      return "drop";
  }
  return "?";
}

static Error internal(const std::string& message) { return Error("internal error: " + message); }

// The expert dim after dim `removed` is gone.
static int32_t dim_removed(int32_t expert_dim, int64_t removed) {
  if (expert_dim < 0 || expert_dim == removed) return -1;
  return expert_dim > removed ? expert_dim - 1 : expert_dim;
}

void Program::reserve(size_t slots) {
  descs_.reserve(slots);
  producers_.reserve(slots);
}

uint32_t Program::add_slot(std::string key, TensorDesc desc, int32_t producer) {
  const auto slot = static_cast<uint32_t>(descs_.size());
  descs_.push_back(std::move(desc));
  names_.push_back(std::move(key));
  producers_.push_back(producer);
  return slot;
}

uint32_t Program::add_input(std::string key, const DtypeInfo& dtype, Dims shape) {
  if (!steps_.empty()) throw internal("an input added after the first step");
  const auto slot = static_cast<uint32_t>(descs_.size());
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), slot), -1);
  inputs_ = slot + 1;
  return slot;
}

uint32_t Program::add_step(Step step, const uint32_t* in, size_t count, bool makes_slot) {
  step.first_operand = static_cast<uint32_t>(operands_.size());
  step.operands = static_cast<uint32_t>(count);
  operands_.insert(operands_.end(), in, in + count);
  step.output = makes_slot ? static_cast<uint32_t>(descs_.size()) : 0;
  steps_.push_back(step);
  return step.output;
}

uint32_t Program::add_move(const Op& op, uint32_t in, std::string key) {
  TensorDesc desc = descs_[in];
  const uint32_t out = add_step(Step{StepKind::move, &op}, &in, 1, true);
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_view(const Op& op, uint32_t in, const ViewSpec& view, std::string key) {
  TensorDesc desc = descs_[in];
  const auto dim = static_cast<size_t>(view.dim);
  if (view.dim < 0 || dim >= desc.shape.size()) throw internal("a view outside the tensor's dims");
  const uint64_t itemsize = desc.dtype->itemsize;
  switch (view.kind) {
    case ViewSpec::Kind::select:
      if (view.start < 0 || view.start >= desc.shape[dim]) throw internal("select out of range");
      desc.offset += static_cast<uint64_t>(view.start * desc.strides[dim]) * itemsize;
      desc.shape.erase(desc.shape.begin() + view.dim);
      desc.strides.erase(desc.strides.begin() + view.dim);
      desc.expert_dim = dim_removed(desc.expert_dim, view.dim);
      break;
    case ViewSpec::Kind::narrow:
      if (view.start < 0 || view.length < 0 || view.start + view.length > desc.shape[dim])
        throw internal("narrow out of range");
      if (view.length > 0)
        desc.offset += static_cast<uint64_t>(view.start * desc.strides[dim]) * itemsize;
      desc.shape[dim] = view.length;
      break;
    case ViewSpec::Kind::squeeze:
      if (desc.shape[dim] != 1) throw internal("squeeze of a dim whose size is not 1");
      desc.shape.erase(desc.shape.begin() + view.dim);
      desc.strides.erase(desc.strides.begin() + view.dim);
      desc.expert_dim = dim_removed(desc.expert_dim, view.dim);
      break;
    case ViewSpec::Kind::reshape:
    case ViewSpec::Kind::permute:
      throw internal("a reshape or permute view added without its dims");
  }
  Step step{StepKind::view, &op};
  step.view = view;
  const uint32_t out = add_step(step, &in, 1, true);
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_reshape(const Op& op, uint32_t in, Dims shape, std::string key) {
  const TensorDesc& source = descs_[in];
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel != source.numel()) throw internal("a reshape that changes the element count");
  ReshapedStrides strides = reshaped_strides(source.shape, source.strides, shape);
  if (!strides.ok) return add_reshape(op, add_copy(op, in, key), std::move(shape), std::move(key));
  TensorDesc desc = source;
  desc.expert_dim =
      source.expert_dim < 0
          ? -1
          : static_cast<int32_t>(reshaped_dim(source.shape, source.expert_dim, shape));
  desc.shape = std::move(shape);
  desc.strides = std::move(strides.strides);
  Step step{StepKind::view, &op};
  step.view.kind = ViewSpec::Kind::reshape;
  const uint32_t out = add_step(step, &in, 1, true);
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_permute(const Op& op, uint32_t in, const std::vector<int64_t>& dims,
                              std::string key) {
  const TensorDesc& source = descs_[in];
  if (static_cast<int64_t>(dims.size()) != source.dim()) throw internal("a permute of other dims");
  std::vector<bool> seen(dims.size(), false);
  TensorDesc desc = source;
  desc.expert_dim = -1;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = dims[i];
    if (d < 0 || d >= source.dim() || seen[static_cast<size_t>(d)])
      throw internal("a permute whose dims are not a permutation");
    seen[static_cast<size_t>(d)] = true;
    desc.shape[i] = source.shape[static_cast<size_t>(d)];
    desc.strides[i] = source.strides[static_cast<size_t>(d)];
    if (d == source.expert_dim) desc.expert_dim = static_cast<int32_t>(i);
  }
  Step step{StepKind::view, &op};
  step.view.kind = ViewSpec::Kind::permute;
  keep_integers(step, dims);
  const uint32_t out = add_step(step, &in, 1, true);
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

void Program::keep_integers(Step& step, const std::vector<int64_t>& integers) {
  step.first_integer = static_cast<uint32_t>(integers_.size());
  step.integers = static_cast<uint32_t>(integers.size());
  integers_.insert(integers_.end(), integers.begin(), integers.end());
}

std::vector<int64_t> Program::integers(const Step& step) const {
  const auto first = integers_.begin() + step.first_integer;
  return std::vector<int64_t>(first, first + step.integers);
}

uint32_t Program::add_copy(const Op& op, uint32_t in, std::string key) {
  const TensorDesc& source = descs_[in];
  const uint32_t out = add_step(Step{StepKind::copy, &op}, &in, 1, true);
  TensorDesc desc = TensorDesc::fresh(*source.dtype, source.shape, out);
  desc.expert_dim = source.expert_dim;
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

void Program::mark_expert_dim(uint32_t slot, int64_t dim) {
  descs_[slot].expert_dim = static_cast<int32_t>(dim);
}

uint32_t Program::add_stack(const Op& op, const std::vector<uint32_t>& in, int64_t dim,
                            std::string key) {
  if (in.empty()) throw internal("a stack of nothing");
  const TensorDesc& first = descs_[in.front()];
  if (dim < 0 || dim > first.dim()) throw internal("a stack outside the tensors' dims");
  Dims shape = first.shape;
  shape.insert(shape.begin() + dim, static_cast<int64_t>(in.size()));
  const DtypeInfo& dtype = *first.dtype;
  Step step{StepKind::stack, &op};
  step.dim = dim;
  const uint32_t out = add_step(step, in.data(), in.size(), true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_concat(const Op& op, const std::vector<uint32_t>& in, int64_t dim,
                             std::string key) {
  if (in.empty()) throw internal("a concatenation of nothing");
  const TensorDesc& first = descs_[in.front()];
  if (dim < 0 || dim >= first.dim()) throw internal("a concatenation outside the tensors' dims");
  Dims shape = first.shape;
  for (size_t i = 1; i < in.size(); ++i) shape[dim] += descs_[in[i]].shape[dim];
  const DtypeInfo& dtype = *first.dtype;
  const int32_t expert_dim = first.expert_dim;
  Step step{StepKind::concat, &op};
  step.dim = dim;
  const uint32_t out = add_step(step, in.data(), in.size(), true);
  TensorDesc desc = TensorDesc::fresh(dtype, std::move(shape), out);
  desc.expert_dim = expert_dim;
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_compute(const Op& op, const std::vector<uint32_t>& in,
                              const Transform& transform, const DtypeInfo& dtype, Dims shape,
                              std::string key, const std::vector<int64_t>& integers) {
  Step step{StepKind::compute, &op};
  step.transform = &transform;
  keep_integers(step, integers);
  const uint32_t out = add_step(step, in.data(), in.size(), true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_create(const Op& op, uint32_t like, Dims shape, std::string key) {
  const DtypeInfo& dtype = *descs_[like].dtype;
  const uint32_t out = add_step(Step{StepKind::create, &op}, &like, 1, true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

void Program::append_part(const Program& part, const uint32_t* inputs, const CutNames& names,
                          std::string_view fill, std::vector<uint32_t>& map) {
  map.resize(part.slots());
  for (uint32_t s = 0; s < part.inputs(); ++s) map[s] = inputs[s];
  for (const Step& from : part.steps_) {
    Step step = from;
    step.first_operand = static_cast<uint32_t>(operands_.size());
    for (uint32_t k = 0; k < from.operands; ++k) operands_.push_back(map[part.operand(from, k)]);
    step.first_integer = static_cast<uint32_t>(integers_.size());
    const auto first = part.integers_.begin() + from.first_integer;
    integers_.insert(integers_.end(), first, first + from.integers);
    if (from.kind != StepKind::drop) {
      step.output = static_cast<uint32_t>(descs_.size());
      map[from.output] = step.output;
      TensorDesc desc = part.descs_[from.output];
      desc.storage = map[desc.storage];
      std::string name;
      const std::vector<std::string_view>& pieces = names.pieces[from.output - part.inputs()];
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (i > 0) name.append(fill);
        name.append(pieces[i]);
      }
      add_slot(std::move(name), std::move(desc), static_cast<int32_t>(steps_.size()));
    }
    steps_.push_back(step);
  }
}

void Program::add_drop(const Op& op, uint32_t in) {
  add_step(Step{StepKind::drop, &op}, &in, 1, false);
}

}  // namespace chainconv
