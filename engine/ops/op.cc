#include "ops/op.h"

namespace chainconv {

Context Context::with_scope(Bindings bindings) const {
  Context inner = *this;
  inner.scope = std::move(bindings);
  return inner;
}

void Context::warn(const Op& op, const std::string& message) {
  if (options.strict) throw Error(op.pos(), message + " (strict mode)");
  program.add_warning({op.pos(), message});
}

Error Context::error(const Op& op, const std::string& message) const {
  return Error(op.pos(), std::string(op.kind()) + " (" + std::string(direction_name(direction)) +
                             "): " + message);
}

const uint32_t* Context::find(std::string_view key) const {
  auto it = dict.find(key);
  return it == dict.end() ? nullptr : &it->second;
}

uint32_t Context::take(const Op& op, std::string_view key) {
  auto it = dict.find(key);
  if (it == dict.end()) throw error(op, "key '" + std::string(key) + "' is missing");
  const uint32_t slot = it->second;
  dict.erase(it);
  return slot;
}

Error Context::overwrite_error(const Op& op, std::string_view key) const {
  return error(op,
               "would overwrite existing key '" + std::string(key) + "' (both layouts present?)");
}

void Context::require_free(const Op& op, std::string_view key) const {
  if (contains(key)) throw overwrite_error(op, key);
}

uint32_t Context::take(const TemplateMatch& match) {
  dict.erase(match.entry);
  return match.slot;
}

uint32_t Context::take(const KeyMatch& match) {
  const uint32_t slot = match.slot();
  dict.erase(match.entry);
  return slot;
}

void Context::put(const Op& op, uint32_t slot) {
  const std::string& key = program.name(slot);
  if (!dict.try_emplace(key, slot).second) throw overwrite_error(op, key);
}

KeyIndex::iterator Context::put_near(const Op& op, uint32_t slot, KeyIndex::iterator near) {
  const std::string& key = program.name(slot);
  constexpr int kSteps = 4;  // past that, emplace_hint searches from the root: still right
  for (int steps = 0; near != dict.end() && near->first < key && steps < kSteps; ++steps) ++near;
  const size_t size = dict.size();
  const auto entry = dict.emplace_hint(near, key, slot);
  if (dict.size() == size) throw overwrite_error(op, key);
  return entry;
}

void Context::move(const Op& op, const TemplateMatch& from, std::string to) {
  put(op, program.add_move(op, take(from), std::move(to)));
}

void Context::move(const Op& op, std::string_view from, std::string to) {
  put(op, program.add_move(op, take(op, from), std::move(to)));
}

void run_ops(const OpList& ops, Context& ctx) {
  if (ctx.direction == Direction::to_prime) {
    for (const OpPtr& op : ops) op->forward(ctx);
  } else {
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) (*it)->backward(ctx);
  }
}

}  // namespace chainconv
