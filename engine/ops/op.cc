#include "ops/op.h"

namespace chainconv {

std::string_view direction_name(Direction d) {
  return d == Direction::to_prime ? "to_prime" : "to_hf";
}

std::string Warning::str() const {
  std::string where = pos.str();
  return (where.empty() ? "" : where + ": ") + "warning: " + message;
}

Context Context::with_scope(Bindings bindings) const {
  Context inner = *this;
  inner.scope = std::move(bindings);
  return inner;
}

void Context::warn(const Op& op, const std::string& message) {
  if (options.strict) throw Error(op.pos(), message + " (strict mode)");
  if (warnings) warnings->push_back({op.pos(), message});
}

void Context::step(const Op& op, const std::vector<std::string>& inputs,
                   const std::vector<std::string>& outputs, const std::string* seen) {
  if (!observer) return;
  if (seen) observer->on_seen(op, *seen);
  observer->on_step(op, inputs, outputs);
}

void Op::replay(StepIO&) const {
  throw Error(pos(), "internal error: a " + std::string(kind()) +
                         " op takes no steps of its own to replay");
}

Error Context::error(const Op& op, const std::string& message) const {
  return Error(op.pos(), std::string(op.kind()) + " (" + std::string(direction_name(direction)) +
                             "): " + message);
}

Item Context::take(const Op& op, const std::string& key) {
  if (!dict.contains(key)) throw error(op, "key '" + key + "' is missing");
  return dict.take(key);
}

void Context::insert(const Op& op, std::string key, Item item) {
  if (dict.contains(key))
    throw error(op, "would overwrite existing key '" + key + "' (both layouts present?)");
  dict.insert(std::move(key), std::move(item));
}

void Context::move(const Op& op, const std::string& from, std::string to) {
  if (!dict.contains(from)) throw error(op, "key '" + from + "' is missing");
  if (dict.contains(to))
    throw error(op, "would overwrite existing key '" + to + "' (both layouts present?)");
  dict.rename(from, std::move(to));
}

void run_ops(const OpList& ops, Context& ctx) {
  if (ctx.direction == Direction::to_prime) {
    for (const OpPtr& op : ops) op->forward(ctx);
  } else {
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) (*it)->backward(ctx);
  }
}

}  // namespace chainconv
