// The step program: what a chain does to one key set, in one direction, as a list of
// primitive steps over numbered slots. It is the engine's only lineage: plans, checks,
// replays and the executors all read it.
//
// Running a chain on tensor descriptions (program/lower.h) decides everything that depends
// on keys, shapes and dtypes: which keys each op matches, which branch a conditional takes,
// how keys group into stacks, what every new key is called. What is left is a short list of
// steps, each a value-level primitive:
//
//   move      a new name for the same tensor (rename)
//   view      select / narrow / squeeze / reshape / permute of one input: no data made
//   copy      a contiguous copy of its input (before a reshape its strides cannot view)
//   stack     inputs stacked along a new dim: new data
//   concat    inputs concatenated along an existing dim: new data
//   compute   a named transform (transforms.h) of its inputs: new data
//   create    a new tensor of a given shape, dtype and device like its input (not consumed)
//   drop      the input leaves the dict
//
// Slots [0, inputs) are the input tensors, in lexicographic key order; every step output
// is a new slot, so a slot is written once and a program can be played by any executor:
// ATen (aten/execute.h) on tensors of any device, the file executor (io/file_executor.h) on
// byte runs of safetensors files, the checks and plans on the descriptions alone.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/tensor_desc.h"
#include "program/chunked_vector.h"

namespace chainconv {

class Op;
struct Transform;

enum class StepKind : uint8_t { move, view, copy, stack, concat, compute, create, drop };
std::string_view step_kind_name(StepKind kind);

// A reshape's new shape is its output's description (Program::desc of the step's output); a
// permutation's dims, like a compute step's integer arguments, are kept by the program
// (Program::integers), so a step stays small.
struct ViewSpec {
  enum class Kind : uint8_t { select, narrow, squeeze, reshape, permute };
  Kind kind = Kind::select;
  int64_t dim = 0;     // non-negative (select, narrow, squeeze)
  int64_t start = 0;   // select: the index; narrow: the first index
  int64_t length = 0;  // narrow
};

struct Step {
  StepKind kind = StepKind::move;
  const Op* op = nullptr;  // the op whose lowering made the step: its position, kind, lossy
  uint32_t first_operand = 0, operands = 0;  // a range of Program::operands
  uint32_t output = 0;                       // the slot it makes (none for a drop)
  ViewSpec view = {};                        // view
  int64_t dim = 0;                           // stack, concat
  const Transform* transform = nullptr;      // compute
  uint32_t first_integer = 0, integers = 0;  // permute, compute: a range of Program::integers
};

class Program {
 public:
  Direction direction = Direction::to_prime;

  // Slots.
  size_t slots() const { return descs_.size(); }
  uint32_t inputs() const { return inputs_; }
  const TensorDesc& desc(uint32_t slot) const { return descs_[slot]; }
  // The key the slot was made under.
  const std::string& name(uint32_t slot) const { return names_[slot]; }
  // The step that made the slot, or -1 for an input.
  int32_t producer(uint32_t slot) const { return producers_[slot]; }

  const std::vector<Step>& steps() const { return steps_; }
  const Step& step(size_t i) const { return steps_[i]; }
  uint32_t operand(const Step& step, uint32_t k) const { return operands_[step.first_operand + k]; }

  // A step's integers: a permute view's dims (output dim i is input dim integers[i]), a
  // compute step's arguments (a block size).
  std::vector<int64_t> integers(const Step& step) const;

  // The slots left in the dict at the end, in lexicographic key order.
  const std::vector<uint32_t>& outputs() const { return outputs_; }
  const std::vector<Warning>& warnings() const { return warnings_; }

  // Building (program/lower.cc and the step rules in program/steps.cc).
  uint32_t add_input(std::string key, const DtypeInfo& dtype, Dims shape);
  // Each returns the new slot. The output description follows from the step's rule.
  uint32_t add_move(const Op& op, uint32_t in, std::string key);
  uint32_t add_view(const Op& op, uint32_t in, const ViewSpec& view, std::string key);
  // A reshape view when the input's strides allow one; otherwise a contiguous copy, then the
  // view (never a wrong stride). `shape` has the input's element count.
  uint32_t add_reshape(const Op& op, uint32_t in, Dims shape, std::string key);
  // A permute view: output dim i is input dim dims[i] (a permutation of the input's dims).
  uint32_t add_permute(const Op& op, uint32_t in, const std::vector<int64_t>& dims,
                       std::string key);
  uint32_t add_copy(const Op& op, uint32_t in, std::string key);
  // Records that dim `dim` of `slot` numbers experts (TensorDesc::expert_dim).
  void mark_expert_dim(uint32_t slot, int64_t dim);
  uint32_t add_stack(const Op& op, const std::vector<uint32_t>& in, int64_t dim, std::string key);
  uint32_t add_concat(const Op& op, const std::vector<uint32_t>& in, int64_t dim, std::string key);
  // The output's dtype and shape are the op's to say (a dequantization changes both);
  // `integers` are the transform's arguments.
  uint32_t add_compute(const Op& op, const std::vector<uint32_t>& in, const Transform& transform,
                       const DtypeInfo& dtype, Dims shape, std::string key,
                       const std::vector<int64_t>& integers = {});
  uint32_t add_create(const Op& op, uint32_t like, Dims shape, std::string key);
  void add_drop(const Op& op, uint32_t in);
  // Appends the steps of `part`, a program lowered on some of this program's inputs: its
  // input slot i is slot inputs[i] here, and each slot it makes is named by joining the
  // pieces names.pieces[slot - part.inputs()] with `fill` between them (a layer number in
  // place of the one the part was lowered with). Sets map[part slot] to the slot here.
  struct CutNames {
    std::vector<std::vector<std::string_view>> pieces;
  };
  void append_part(const Program& part, const uint32_t* inputs, const CutNames& names,
                   std::string_view fill, std::vector<uint32_t>& map);
  void set_outputs(std::vector<uint32_t> outputs) { outputs_ = std::move(outputs); }
  void add_warning(Warning w) { warnings_.push_back(std::move(w)); }
  void reserve(size_t slots);

 private:
  uint32_t add_slot(std::string key, TensorDesc desc, int32_t producer);
  uint32_t add_step(Step step, const uint32_t* in, size_t count, bool makes_slot);
  void keep_integers(Step& step, const std::vector<int64_t>& integers);

  uint32_t inputs_ = 0;
  ChunkedVector<TensorDesc> descs_;
  std::deque<std::string> names_;  // stable: the symbolic dict's keys view them
  std::vector<int32_t> producers_;
  std::vector<Step> steps_;
  std::vector<uint32_t> operands_;
  std::vector<int64_t> integers_;  // every step's integers, one step's after another
  std::vector<uint32_t> outputs_;
  std::vector<Warning> warnings_;
};

// Whether a step of this kind consumes its operands (every kind but create, whose operand
// only lends its dtype and device).
inline bool consumes(StepKind kind) { return kind != StepKind::create; }
// Whether a step of this kind makes new data (and so a storage of its own).
inline bool makes_data(StepKind kind) {
  return kind == StepKind::copy || kind == StepKind::stack || kind == StepKind::concat ||
         kind == StepKind::compute || kind == StepKind::create;
}

}  // namespace chainconv
