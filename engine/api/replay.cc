// The public Replay: a step program kept with the chain its steps point into, played by the
// ATen executor.
#include <algorithm>

#include "api/chain_impl.h"
#include "api/guard.h"
#include "aten/dtypes.h"
#include "aten/execute.h"
#include "core/text.h"

namespace chainconv::api {

struct Replay::Impl {
  std::shared_ptr<const Chain::Impl> chain;  // the ops the program's steps point to
  std::shared_ptr<const Compiled> compiled;
  const Program& program() const { return compiled->program; }
};

Replay::Replay(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Replay::Replay(Replay&&) noexcept = default;
Replay& Replay::operator=(Replay&&) noexcept = default;
Replay::Replay(const Replay&) = default;
Replay& Replay::operator=(const Replay&) = default;
Replay::~Replay() = default;

Replay Chain::compile(const std::vector<TensorRef>& key_set, Direction direction,
                      const Options& options, std::vector<uint32_t>* order) const {
  return guarded([&] {
    auto impl = std::make_shared<Replay::Impl>();
    impl->chain = impl_;
    std::shared_ptr<const Listing> listing = lookup(*impl_, key_set, direction, options);
    impl->compiled = listing->compiled;
    if (order) *order = listing->order;
    return Replay(std::move(impl));
  });
}

std::vector<at::Tensor> execute_in_order(const Program& program,
                                         const std::vector<TensorRef>& key_set,
                                         const std::vector<uint32_t>& order) {
  std::vector<const at::Tensor*> inputs;
  inputs.reserve(order.size());
  for (uint32_t i : order) inputs.push_back(key_set[i].tensor);
  return execute(program, inputs);
}

Converted Chain::convert(const std::vector<TensorRef>& key_set, Direction direction,
                         const Options& options) const {
  return guarded([&] {
    auto impl = std::make_shared<Replay::Impl>();
    impl->chain = impl_;
    // The look-up confirmed every key, shape and dtype: nothing to check again.
    std::shared_ptr<const Listing> listing = lookup(*impl_, key_set, direction, options);
    impl->compiled = listing->compiled;
    std::vector<at::Tensor> outputs =
        execute_in_order(listing->compiled->program, key_set, listing->order);
    return Converted{Replay(std::move(impl)), listing->order, std::move(outputs)};
  });
}

Replay Chain::compile(const TensorMap& dict, Direction direction, const Options& options) const {
  return compile(refs_of(dict), direction, options);
}

Direction Replay::direction() const { return impl_->program().direction; }
const std::vector<std::string>& Replay::input_keys() const { return impl_->compiled->input_keys(); }
const std::vector<std::string>& Replay::output_keys() const {
  return impl_->compiled->output_keys();
}
const std::vector<Warning>& Replay::warnings() const { return impl_->program().warnings(); }
const std::vector<int32_t>& Replay::passthrough() const { return impl_->compiled->passthrough; }
uint64_t Replay::id() const { return impl_->compiled->id; }

// Throws unless `t` is what input `i` was compiled for.
static void check_input(const Compiled& compiled, size_t i, const at::Tensor& t) {
  const Program& program = compiled.program;
  if (t.defined() && compiled.fits_input(static_cast<uint32_t>(i), t)) return;
  const std::string& key = program.name(static_cast<uint32_t>(i));
  if (!t.defined())
    throw Error("replay: tensor " + std::to_string(i) + " ('" + key + "') is undefined");
  const TensorDesc& want = program.desc(static_cast<uint32_t>(i));
  throw Error("replay: '" + key + "' is " + shape_str(t.sizes().vec()) + " " +
              std::string(dtype_of(t.scalar_type()).name) + " but the plan was compiled for " +
              want.str() + "; compile a plan for this key set");
}

std::vector<at::Tensor> Replay::run(std::vector<at::Tensor> inputs) const {
  return guarded([&] {
    const Program& program = impl_->program();
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!inputs[i].defined())
        throw Error("replay: tensor " + std::to_string(i) +
                    (i < program.inputs() ? " ('" + program.name(static_cast<uint32_t>(i)) + "')"
                                          : std::string()) +
                    " is undefined");
    if (inputs.size() != program.inputs())
      throw Error("replay: " + std::to_string(inputs.size()) + " inputs given, the plan takes " +
                  std::to_string(program.inputs()));
    for (size_t i = 0; i < inputs.size(); ++i) check_input(*impl_->compiled, i, inputs[i]);
    return execute(program, std::move(inputs));
  });
}

// For each input slot of `compiled`, the index in `key_set` of its tensor; throws Error
// unless the key set's keys are exactly the slots' keys and each tensor fits its slot.
static std::vector<uint32_t> slots_of(const Compiled& compiled,
                                      const std::vector<TensorRef>& key_set) {
  const Program& program = compiled.program;
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> order(program.inputs(), kNone);
  std::string_view unknown;  // the first in key order, so that the message is stable
  bool any_unknown = false;
  for (size_t i = 0; i < key_set.size(); ++i) {
    const std::string_view key = key_set[i].key;
    const int32_t slot = compiled.find_input(key, key_hash(key));
    if (slot < 0) {
      if (!any_unknown || key < unknown) unknown = key;
      any_unknown = true;
    } else if (order[static_cast<size_t>(slot)] != kNone) {
      throw Error("replay: the key set lists '" + std::string(key) + "' twice");
    } else {
      order[static_cast<size_t>(slot)] = static_cast<uint32_t>(i);
    }
  }
  if (any_unknown)
    throw Error("replay: the dict has '" + std::string(unknown) +
                "', which the plan does not know; compile a plan for this key set");
  for (uint32_t s = 0; s < program.inputs(); ++s) {
    if (order[s] == kNone)
      throw Error("replay: the dict lacks '" + program.name(s) +
                  "'; compile a plan for this key set");
    check_input(compiled, s, *key_set[order[s]].tensor);
  }
  return order;
}

std::vector<at::Tensor> Replay::run(const std::vector<TensorRef>& key_set,
                                    std::vector<uint32_t>* order) const {
  return guarded([&] {
    const Compiled& compiled = *impl_->compiled;
    std::vector<uint32_t> slots = slots_of(compiled, key_set);
    std::vector<at::Tensor> outputs = execute_in_order(compiled.program, key_set, slots);
    if (order) *order = std::move(slots);
    return outputs;
  });
}

void Replay::run(TensorMap& dict) const {
  guarded([&] {
    const Compiled& compiled = *impl_->compiled;
    // Everything is checked before anything moves, so a refused dict is left as it was.
    std::vector<TensorRef> refs;
    std::vector<TensorMap::iterator> entries;
    view_map(dict, refs, entries);
    std::vector<uint32_t> order;
    std::vector<at::Tensor> outputs = run(refs, &order);
    update_in_place(dict, compiled, entries, order, std::move(outputs));
  });
}

}  // namespace chainconv::api
