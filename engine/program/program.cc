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

uint32_t Program::add_input(std::string key, const DtypeInfo& dtype, std::vector<int64_t> shape) {
  if (!steps_.empty()) throw internal("an input added after the first step");
  const auto slot = static_cast<uint32_t>(descs_.size());
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), slot), -1);
  inputs_ = slot + 1;
  return slot;
}

uint32_t Program::add_step(Step step, const std::vector<uint32_t>& in, bool makes_slot) {
  step.first_operand = static_cast<uint32_t>(operands_.size());
  step.operands = static_cast<uint32_t>(in.size());
  operands_.insert(operands_.end(), in.begin(), in.end());
  step.output = makes_slot ? static_cast<uint32_t>(descs_.size()) : 0;
  steps_.push_back(step);
  return step.output;
}

uint32_t Program::add_move(const Op& op, uint32_t in, std::string key) {
  TensorDesc desc = descs_[in];
  const uint32_t out = add_step(Step{StepKind::move, &op}, {in}, true);
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
      break;
  }
  Step step{StepKind::view, &op};
  step.view = view;
  const uint32_t out = add_step(step, {in}, true);
  add_slot(std::move(key), std::move(desc), static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_stack(const Op& op, const std::vector<uint32_t>& in, int64_t dim,
                            std::string key) {
  if (in.empty()) throw internal("a stack of nothing");
  const TensorDesc& first = descs_[in.front()];
  if (dim < 0 || dim > first.dim()) throw internal("a stack outside the tensors' dims");
  std::vector<int64_t> shape = first.shape;
  shape.insert(shape.begin() + dim, static_cast<int64_t>(in.size()));
  const DtypeInfo& dtype = *first.dtype;
  Step step{StepKind::stack, &op};
  step.dim = dim;
  const uint32_t out = add_step(step, in, true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_concat(const Op& op, const std::vector<uint32_t>& in, int64_t dim,
                             std::string key) {
  if (in.empty()) throw internal("a concatenation of nothing");
  const TensorDesc& first = descs_[in.front()];
  if (dim < 0 || dim >= first.dim()) throw internal("a concatenation outside the tensors' dims");
  std::vector<int64_t> shape = first.shape;
  for (size_t i = 1; i < in.size(); ++i) shape[dim] += descs_[in[i]].shape[dim];
  const DtypeInfo& dtype = *first.dtype;
  Step step{StepKind::concat, &op};
  step.dim = dim;
  const uint32_t out = add_step(step, in, true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_compute(const Op& op, const std::vector<uint32_t>& in,
                              const Transform& transform, const DtypeInfo& dtype,
                              std::vector<int64_t> shape, std::string key) {
  Step step{StepKind::compute, &op};
  step.transform = &transform;
  const uint32_t out = add_step(step, in, true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

uint32_t Program::add_create(const Op& op, uint32_t like, std::vector<int64_t> shape,
                             std::string key) {
  const DtypeInfo& dtype = *descs_[like].dtype;
  const uint32_t out = add_step(Step{StepKind::create, &op}, {like}, true);
  add_slot(std::move(key), TensorDesc::fresh(dtype, std::move(shape), out),
           static_cast<int32_t>(steps_.size() - 1));
  return out;
}

void Program::add_drop(const Op& op, uint32_t in) {
  add_step(Step{StepKind::drop, &op}, {in}, false);
}

}  // namespace chainconv
