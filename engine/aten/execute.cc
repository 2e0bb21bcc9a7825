#include "aten/execute.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>

#include "aten/dtypes.h"
#include "aten/kernels.h"
#include "aten/views.h"

namespace chainconv {
namespace {

// Reshape and permute read their dims from the program, not from the input's description:
// the tensor a caller passes may have other strides than the description assumes, and
// ATen's own rules keep the result right on any of them (reshape copies where no view fits).
at::Tensor view_of(const Program& program, const Step& step, const at::Tensor& t) {
  const ViewSpec& view = step.view;
  switch (view.kind) {
    case ViewSpec::Kind::reshape:
      return t.reshape(program.desc(step.output).shape);
    case ViewSpec::Kind::permute:
      return t.permute(program.integers(step));
    case ViewSpec::Kind::select:
      return t.select(view.dim, view.start);
    case ViewSpec::Kind::narrow:
      return t.narrow(view.dim, view.start, view.length);
    case ViewSpec::Kind::squeeze:
      return t.squeeze(view.dim);
  }
  return t;
}

// Meta tensors have no values: what a step making new data gives is the tensor its rule
// describes (at::stack and at::cat would only work that out again, and many kernels have no
// meta version). A stack or concatenation that autograd records is left to ATen: its result
// must carry the graph.
bool described_only(StepKind kind, const std::vector<at::Tensor>& operands) {
  if (operands.empty() || !operands.front().is_meta()) return false;
  if (kind == StepKind::compute) return true;
  for (const at::Tensor& t : operands)
    if (!t.is_meta() || t.requires_grad()) return false;
  return true;
}

// The slots of one execution, kept between executions on a thread so that a repeated
// conversion does not allocate (and fault in) a slot array each time.
class SlotArray {
 public:
  explicit SlotArray(std::vector<at::Tensor> inputs, size_t slots) : slots_(take()) {
    slots_.reserve(slots);
    for (at::Tensor& t : inputs) slots_.push_back(std::move(t));
    slots_.resize(slots);
  }
  ~SlotArray() {
    slots_.clear();  // releases every tensor, keeps the capacity
    if (slots_.capacity() <= kKeep) spare() = std::move(slots_);
  }
  SlotArray(const SlotArray&) = delete;
  SlotArray& operator=(const SlotArray&) = delete;
  at::Tensor& operator[](size_t i) { return slots_[i]; }

 private:
  static constexpr size_t kKeep = size_t{1} << 20;  // a million slots: 8 MB at most
  static std::vector<at::Tensor>& spare() {
    thread_local std::vector<at::Tensor> kept;
    return kept;
  }
  static std::vector<at::Tensor> take() { return std::move(spare()); }
  std::vector<at::Tensor> slots_;
};

}  // namespace

std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs) {
  return execute(program, std::move(inputs), {});
}

std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs,
                                const std::vector<bool>& needed) {
  SlotArray slots(std::move(inputs), program.slots());
  std::vector<at::Tensor> operands;
  const std::vector<Step>& steps = program.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    if (!needed.empty() && !needed[i]) continue;
    auto operand = [&](uint32_t k) -> at::Tensor& { return slots[program.operand(step, k)]; };
    switch (step.kind) {
      case StepKind::move:
        slots[step.output] = operand(0);
        break;
      case StepKind::view:
        // The rows of one stacked tensor, selected one after another: one unbind makes them
        // all, instead of one dispatch per row.
        if (step.view.kind == ViewSpec::Kind::select && step.view.start == 0 && needed.empty()) {
          const at::Tensor& whole = operand(0);
          const int64_t rows = whole.size(step.view.dim);
          size_t run = 1;
          while (run < static_cast<size_t>(rows) && i + run < steps.size()) {
            const Step& next = steps[i + run];
            if (next.kind != StepKind::view || next.view.kind != ViewSpec::Kind::select ||
                next.view.dim != step.view.dim || next.view.start != static_cast<int64_t>(run) ||
                program.operand(next, 0) != program.operand(step, 0))
              break;
            ++run;
          }
          if (run == static_cast<size_t>(rows) && rows > 1) {
            std::vector<at::Tensor> all = rows_of(whole, step.view.dim);
            for (size_t r = 0; r < run; ++r) slots[steps[i + r].output] = std::move(all[r]);
            i += run - 1;
            break;
          }
        }
        slots[step.output] = view_of(program, step, operand(0));
        break;
      case StepKind::copy:
        slots[step.output] = operand(0).contiguous();
        break;
      case StepKind::stack:
      case StepKind::concat:
      case StepKind::compute:
        operands.clear();
        for (uint32_t k = 0; k < step.operands; ++k) operands.push_back(operand(k));
        {
          const TensorDesc& out = program.desc(step.output);
          const c10::ScalarType type = storage_type(*out.dtype);
          if (described_only(step.kind, operands)) {
            // A stack or concatenation keeps its operands' dtype; a transform says its own.
            const at::TensorOptions like = operands.front().options();
            slots[step.output] =
                at::empty(out.shape, step.kind == StepKind::compute ? like.dtype(type) : like);
          } else if (step.kind == StepKind::stack) {
            slots[step.output] = at::stack(operands, step.dim);
          } else if (step.kind == StepKind::concat) {
            slots[step.output] = at::cat(operands, step.dim);
          } else {
            const std::vector<int64_t> integers = program.integers(step);
            slots[step.output] = apply_transform(*step.transform, {operands, integers, type});
          }
        }
        break;
      case StepKind::create:
        slots[step.output] = at::empty(program.desc(step.output).shape, operand(0).options());
        break;
      case StepKind::drop:
        break;
    }
  }
  std::vector<at::Tensor> outputs;
  outputs.reserve(program.outputs().size());
  for (uint32_t slot : program.outputs()) outputs.push_back(std::move(slots[slot]));
  return outputs;
}

}  // namespace chainconv
