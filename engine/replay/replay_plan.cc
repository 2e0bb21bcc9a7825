#include "replay/replay_plan.h"

#include <ATen/ops/empty.h>

#include <unordered_map>

#include "ops/op_util.h"

namespace chainconv {

// Turns the steps of one run into slot operations. Every key alive in the run's dict has
// a slot; a step frees its inputs' slots and gives its outputs new ones, except a pure move
// (rename), whose output inherits its input's slot.
class StepRecorder final : public Observer {
 public:
  explicit StepRecorder(ReplayPlan& plan) : plan_(plan) {
    for (uint32_t i = 0; i < plan.input_keys_.size(); ++i) slots_.emplace(plan.input_keys_[i], i);
    plan.slot_count_ = static_cast<uint32_t>(plan.input_keys_.size());
  }

  void on_seen(const Op&, const std::string& key) override { seen_ = slot_of(key); }

  void on_step(const Op& op, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs) override {
    const int64_t seen = std::exchange(seen_, -1);
    if (op.moves_only() && inputs.size() == 1 && outputs.size() == 1) {
      const uint32_t slot = take(inputs.front());
      slots_.emplace(outputs.front(), slot);
      return;
    }
    ReplayPlan::Step step{&op,
                          static_cast<uint32_t>(plan_.operands_.size()),
                          static_cast<uint32_t>(inputs.size()),
                          plan_.slot_count_,
                          static_cast<uint32_t>(outputs.size()),
                          seen};
    for (const std::string& key : inputs) plan_.operands_.push_back(take(key));
    for (const std::string& key : outputs) slots_.emplace(key, plan_.slot_count_++);
    plan_.steps_.push_back(step);
  }

  uint32_t slot_of(const std::string& key) const { return find(key)->second; }

 private:
  using Slots = std::unordered_map<std::string, uint32_t>;

  Slots::const_iterator find(const std::string& key) const {
    auto it = slots_.find(key);
    if (it == slots_.end())
      throw Error("internal error: a step used '" + key + "', which no step made");
    return it;
  }

  uint32_t take(const std::string& key) {
    auto it = find(key);
    const uint32_t slot = it->second;
    slots_.erase(it);
    return slot;
  }

  ReplayPlan& plan_;
  Slots slots_;
  int64_t seen_ = -1;
};

ReplayPlan ReplayPlan::compile(const Chain& chain, Direction direction, const StateDict& example,
                               const RunOptions& options) {
  ReplayPlan plan;
  plan.direction_ = direction;
  StateDict meta;
  for (const auto& [key, item] : example) {
    const at::Tensor& t = item.tensor;
    plan.input_keys_.push_back(key);
    plan.input_shapes_.push_back({t.sizes().vec(), t.scalar_type(), item.opaque_dtype});
    meta.append(key, Item{at::empty(t.sizes(), t.options().device(at::kMeta)), item.opaque_dtype});
  }
  StepRecorder recorder(plan);
  plan.warnings_ = chain.run(meta, direction, options, &recorder);
  for (const auto& [key, item] : meta) {
    plan.output_keys_.push_back(key);
    plan.output_slots_.push_back(recorder.slot_of(key));
  }
  return plan;
}

void ReplayPlan::check_input(size_t i, const Item& item) const {
  const Shape& want = input_shapes_[i];
  const at::Tensor& t = item.tensor;
  if (t.sizes() == at::IntArrayRef(want.sizes) && t.scalar_type() == want.dtype &&
      item.opaque_dtype == want.opaque_dtype)
    return;
  auto describe = [](at::IntArrayRef sizes, c10::ScalarType dtype, const std::string& opaque) {
    return shape_str(sizes.vec()) + " " +
           (opaque.empty() ? std::string(c10::toString(dtype)) : opaque);
  };
  throw Error(
      "replay: '" + input_keys_[i] + "' is " +
      describe(t.sizes(), t.scalar_type(), item.opaque_dtype) + " but the plan was compiled for " +
      describe(want.sizes, want.dtype, want.opaque_dtype) + "; compile a plan for this key set");
}

std::vector<Item> ReplayPlan::replay(std::vector<Item> inputs) const {
  if (inputs.size() != input_keys_.size())
    throw Error("replay: " + std::to_string(inputs.size()) + " inputs given, the plan takes " +
                std::to_string(input_keys_.size()));
  for (size_t i = 0; i < inputs.size(); ++i) check_input(i, inputs[i]);
  return play(std::move(inputs));
}

std::vector<Item> ReplayPlan::play(std::vector<Item> inputs) const {
  // Slots below the input count are the inputs themselves; only what steps make needs room.
  const uint32_t input_count = static_cast<uint32_t>(inputs.size());
  std::vector<Item> made(slot_count_ - input_count);
  auto slot = [&](uint32_t s) -> Item& {
    return s < input_count ? inputs[s] : made[s - input_count];
  };
  std::vector<Item> in, out;
  for (const Step& step : steps_) {
    in.clear();
    out.clear();
    for (uint32_t k = 0; k < step.inputs; ++k)
      in.push_back(std::move(slot(operands_[step.first_input + k])));
    StepIO io{direction_, in, step.seen >= 0 ? &slot(static_cast<uint32_t>(step.seen)) : nullptr,
              out};
    step.op->replay(io);
    if (out.size() != step.outputs)
      throw Error(step.op->pos(), "internal error: replaying a " + std::string(step.op->kind()) +
                                      " step made " + std::to_string(out.size()) +
                                      " tensors where the run made " +
                                      std::to_string(step.outputs));
    std::move(out.begin(), out.end(), made.begin() + (step.first_output - input_count));
  }

  std::vector<Item> outputs;
  outputs.reserve(output_slots_.size());
  for (uint32_t s : output_slots_) outputs.push_back(std::move(slot(s)));
  return outputs;
}

void ReplayPlan::replay(StateDict& dict) const {
  // Everything is checked before anything moves, so a refused dict is left as it was.
  size_t i = 0;
  for (auto it = dict.begin(); it != dict.end(); ++it, ++i) {
    if (i == input_keys_.size() || it->first != input_keys_[i])
      throw Error("replay: the dict has '" + it->first + "'" +
                  (i < input_keys_.size() ? " where the plan expects '" + input_keys_[i] + "'"
                                          : ", which the plan does not know") +
                  "; compile a plan for this key set");
    check_input(i, it->second);
  }
  if (i != input_keys_.size())
    throw Error("replay: the dict lacks '" + input_keys_[i] + "'; compile a plan for this key set");

  std::vector<Item> outputs = play(dict.take_all());
  for (size_t k = 0; k < outputs.size(); ++k) dict.append(output_keys_[k], std::move(outputs[k]));
}

}  // namespace chainconv
