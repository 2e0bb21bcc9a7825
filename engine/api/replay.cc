// The public Replay: a ReplayPlan (engine/replay) kept with the chain its steps point into.
#include "api/chain_impl.h"
#include "api/translate.h"
#include "replay/replay_plan.h"

namespace chainconv::api {

struct Replay::Impl {
  std::shared_ptr<const Chain::Impl> chain;  // the ops the plan's steps play
  ReplayPlan plan;
  Direction direction;
  std::vector<Warning> warnings;
};

Replay::Replay(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Replay::Replay(Replay&&) noexcept = default;
Replay& Replay::operator=(Replay&&) noexcept = default;
Replay::Replay(const Replay&) = default;
Replay& Replay::operator=(const Replay&) = default;
Replay::~Replay() = default;

Replay Chain::compile(const TensorMap& dict, Direction direction, const Options& options) const {
  return translating_errors([&] {
    ReplayPlan plan = ReplayPlan::compile(*impl_->chain, engine_direction(direction),
                                          engine_dict(dict), engine_options(options));
    std::vector<Warning> warnings = public_warnings(plan.warnings());
    return Replay(std::make_shared<const Replay::Impl>(
        Replay::Impl{impl_, std::move(plan), direction, std::move(warnings)}));
  });
}

Direction Replay::direction() const { return impl_->direction; }
const std::vector<std::string>& Replay::input_keys() const { return impl_->plan.input_keys(); }
const std::vector<std::string>& Replay::output_keys() const { return impl_->plan.output_keys(); }
const std::vector<Warning>& Replay::warnings() const { return impl_->warnings; }

std::vector<at::Tensor> Replay::run(std::vector<at::Tensor> inputs) const {
  return translating_errors([&] {
    std::vector<Item> items;
    items.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].defined())
        throw Error(Position{},
                    "tensor " + std::to_string(i) +
                        (i < input_keys().size() ? " ('" + input_keys()[i] + "')" : std::string()) +
                        " is undefined");
      items.push_back(Item{std::move(inputs[i]), {}});
    }
    std::vector<Item> outputs = impl_->plan.replay(std::move(items));
    std::vector<at::Tensor> tensors;
    tensors.reserve(outputs.size());
    for (Item& item : outputs) tensors.push_back(std::move(item.tensor));
    return tensors;
  });
}

void Replay::run(TensorMap& dict) const {
  translating_errors([&] {
    StateDict sd = engine_dict(dict);
    impl_->plan.replay(sd);
    replace_contents(dict, sd);
  });
}

}  // namespace chainconv::api
