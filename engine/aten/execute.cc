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

// Asks for the lines of `t`'s TensorImpl that say its device kind and whether it needs a
// gradient: its dispatch keys are in its last bytes, its autograd pointer in its first 64
// (malloc aligns it to 16 only, so each may straddle a line).
void prefetch_flags(const at::Tensor& t) {
  const char* impl = reinterpret_cast<const char*>(t.unsafeGetTensorImpl());
  __builtin_prefetch(impl);
  __builtin_prefetch(impl + 63);
  __builtin_prefetch(impl + sizeof(c10::TensorImpl) - 1);
}

// Meta tensors have no values: what a step making new data gives is the tensor its rule
// describes (at::stack and at::cat would only work that out again, and many kernels have no
// meta version). A stack or concatenation that autograd records is left to ATen: its result
// must carry the graph. The operands' TensorImpls lie wherever their owners made them (a
// stack of 128 experts checks 128), so the ones a few places on are asked for while one is
// checked: on the 47,400-key set this check was a sixth of a repeated to_prime.
template <typename Operand>
bool described_only(const Step& step, Operand&& operand) {
  if (step.operands == 0 || !operand(0).is_meta()) return false;
  if (step.kind == StepKind::compute) return true;
  constexpr uint32_t kAhead = 8;
  for (uint32_t k = 0; k < step.operands; ++k) {
    if (k + kAhead < step.operands) prefetch_flags(operand(k + kAhead));
    if (!operand(k).is_meta() || operand(k).requires_grad()) return false;
  }
  return true;
}

// The slots of one execution: the inputs are borrowed, every slot a step makes is owned.
// The owned ones are kept between executions on a thread, so that a repeated conversion
// does not allocate (and fault in) a slot array each time.
class SlotArray {
 public:
  SlotArray(const std::vector<const at::Tensor*>& inputs, size_t slots)
      : inputs_(inputs), made_(take()) {
    made_.resize(slots - inputs.size());
  }
  ~SlotArray() {
    made_.clear();  // releases every tensor, keeps the capacity
    if (made_.capacity() <= kKeep) spare() = std::move(made_);
  }
  SlotArray(const SlotArray&) = delete;
  SlotArray& operator=(const SlotArray&) = delete;
  const at::Tensor& operator[](uint32_t slot) const {
    return slot < inputs_.size() ? *inputs_[slot] : made_[slot - inputs_.size()];
  }
  // The slot a step writes (never an input).
  at::Tensor& made(uint32_t slot) { return made_[slot - inputs_.size()]; }
  // An output: a made slot gives its tensor up, an input is shared with its owner.
  at::Tensor release(uint32_t slot) {
    return slot < inputs_.size() ? *inputs_[slot] : std::move(made(slot));
  }

 private:
  static constexpr size_t kKeep = size_t{1} << 20;  // a million slots: 8 MB at most
  static std::vector<at::Tensor>& spare() {
    thread_local std::vector<at::Tensor> kept;
    return kept;
  }
  static std::vector<at::Tensor> take() { return std::move(spare()); }
  const std::vector<const at::Tensor*>& inputs_;
  std::vector<at::Tensor> made_;
};

std::vector<const at::Tensor*> pointers_to(const std::vector<at::Tensor>& tensors) {
  std::vector<const at::Tensor*> pointers;
  pointers.reserve(tensors.size());
  for (const at::Tensor& t : tensors) pointers.push_back(&t);
  return pointers;
}

}  // namespace

std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs) {
  return execute(program, pointers_to(inputs), {});
}

std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs,
                                const std::vector<bool>& needed) {
  return execute(program, pointers_to(inputs), needed);
}

std::vector<at::Tensor> execute(const Program& program,
                                const std::vector<const at::Tensor*>& inputs,
                                const std::vector<bool>& needed) {
  if (inputs.size() != program.inputs())
    throw Error("execute: " + std::to_string(inputs.size()) + " inputs for a program of " +
                std::to_string(program.inputs()));
  SlotArray slots(inputs, program.slots());
  std::vector<at::Tensor> operands;
  const std::vector<Step>& steps = program.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    if (!needed.empty() && !needed[i]) continue;
    auto operand = [&](uint32_t k) -> const at::Tensor& { return slots[program.operand(step, k)]; };
    switch (step.kind) {
      case StepKind::move:
        slots.made(step.output) = operand(0);
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
            for (size_t r = 0; r < run; ++r) slots.made(steps[i + r].output) = std::move(all[r]);
            i += run - 1;
            break;
          }
        }
        slots.made(step.output) = view_of(program, step, operand(0));
        break;
      case StepKind::copy:
        slots.made(step.output) = operand(0).contiguous();
        break;
      case StepKind::stack:
      case StepKind::concat:
      case StepKind::compute: {
        const TensorDesc& out = program.desc(step.output);
        const c10::ScalarType type = storage_type(*out.dtype);
        if (described_only(step, operand)) {
          // A stack or concatenation keeps its operands' dtype; a transform says its own.
          const at::TensorOptions like = operand(0).options();
          slots.made(step.output) =
              at::empty(out.shape, step.kind == StepKind::compute ? like.dtype(type) : like);
          break;
        }
        operands.clear();
        for (uint32_t k = 0; k < step.operands; ++k) operands.push_back(operand(k));
        if (step.kind == StepKind::stack) {
          slots.made(step.output) = at::stack(operands, step.dim);
        } else if (step.kind == StepKind::concat) {
          slots.made(step.output) = at::cat(operands, step.dim);
        } else {
          const std::vector<int64_t> integers = program.integers(step);
          slots.made(step.output) = apply_transform(*step.transform, {operands, integers, type});
        }
        break;
      }
      case StepKind::create:
        slots.made(step.output) = at::empty(program.desc(step.output).shape, operand(0).options());
        break;
      case StepKind::drop:
        break;
    }
  }
  std::vector<at::Tensor> outputs;
  outputs.reserve(program.outputs().size());
  for (uint32_t slot : program.outputs()) outputs.push_back(slots.release(slot));
  return outputs;
}

}  // namespace chainconv
