// A chain compiled against one key set: the conversion of that key set, worked out once
// and then replayed on new tensors as often as needed, without matching a single template.
//
// Running a chain (Chain::run) decides at every op which keys match, which conditional
// branch applies, how keys group into stacks, and what every new key is called; on a dict
// of tens of thousands of keys those decisions cost far more than the tensor work itself.
// They depend only on the keys and on the tensors' shapes and dtypes, never on values. A
// trainer converts the same key set again and again (each layer streamed to an inference
// engine at every step), so a ReplayPlan records one run on meta tensors as a list of steps
// over numbered slots (stack these slots into that one, split this one into those, ...)
// and replay() then does only the steps' tensor work:
//
//   ReplayPlan plan = ReplayPlan::compile(chain, Direction::to_prime, layer_dict);
//   for (;;) {
//     std::vector<Item> prime = plan.replay(current_layer_tensors());  // in input_keys() order
//     send(plan.output_keys(), prime);
//   }
//
// The flat form (vectors in the plan's key order) is the fast one. replay(StateDict&) takes
// and gives a state dict, at the price of checking and building the dict's keys.
//
// A plan is only valid for the key set, shapes and dtypes it was compiled for; replay()
// checks every input against them and throws an Error naming the first key that differs.
// Devices and values may differ (compile on meta or CPU, replay on CUDA). Warnings are
// those of the compiling run; with RunOptions::strict, compile() throws them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dsl/chain.h"

namespace chainconv {

class ReplayPlan {
 public:
  // Runs `chain` on a meta copy of `example` (no data is touched or copied) and records
  // the run. Throws what the run throws.
  static ReplayPlan compile(const Chain& chain, Direction direction, const StateDict& example,
                            const RunOptions& options = {});

  Direction direction() const { return direction_; }
  // Keys in the dict's (lexicographic) order.
  const std::vector<std::string>& input_keys() const { return input_keys_; }
  const std::vector<std::string>& output_keys() const { return output_keys_; }
  const std::vector<Warning>& warnings() const { return warnings_; }
  // How many steps replay() plays (renames are aliased, not played).
  size_t steps() const { return steps_.size(); }

  // `inputs[i]` is the tensor for input_keys()[i]; returns the tensor for each of
  // output_keys(), in order. Inputs are moved from.
  std::vector<Item> replay(std::vector<Item> inputs) const;
  // Converts `dict`, whose keys must be exactly input_keys(), in place.
  void replay(StateDict& dict) const;

 private:
  struct Shape {
    std::vector<int64_t> sizes;
    c10::ScalarType dtype;
    std::string opaque_dtype;
  };
  struct Step {
    const Op* op;
    uint32_t first_input, inputs;  // a range of operands_
    uint32_t first_output, outputs;
    int64_t seen;  // a slot, or -1
  };
  friend class StepRecorder;

  void check_input(size_t i, const Item& item) const;
  std::vector<Item> play(std::vector<Item> checked_inputs) const;

  Direction direction_ = Direction::to_prime;
  std::vector<std::string> input_keys_;  // slot i holds input i
  std::vector<Shape> input_shapes_;
  std::vector<std::string> output_keys_;
  std::vector<uint32_t> output_slots_;
  std::vector<Step> steps_;
  std::vector<uint32_t> operands_;
  uint32_t slot_count_ = 0;
  std::vector<Warning> warnings_;
};

}  // namespace chainconv
