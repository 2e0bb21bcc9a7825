#include "aten/state_dict.h"

#include <algorithm>

#include "core/error.h"

namespace chainconv {

StateDict::StateDict(std::initializer_list<std::pair<const std::string, at::Tensor>> init) {
  for (const auto& [key, tensor] : init) insert(key, tensor);
}

const Item* StateDict::find(std::string_view key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : &it->second;
}

const Item& StateDict::item(std::string_view key) const {
  if (const Item* found = find(key)) return *found;
  throw Error("state dict has no key '" + std::string(key) + "'");
}

void StateDict::insert(std::string key, Item item) {
  auto [it, inserted] = items_.try_emplace(std::move(key), std::move(item));
  if (!inserted) throw Error("key '" + it->first + "' already exists; refusing to overwrite it");
}

std::vector<Item> StateDict::take_all() {
  std::vector<Item> items;
  items.reserve(items_.size());
  for (auto& entry : items_) items.push_back(std::move(entry.second));
  items_.clear();
  return items;
}

void StateDict::append(std::string key, Item item) {
  if (!items_.empty() && !(items_.rbegin()->first < key))
    throw Error("key '" + key + "' does not sort after '" + items_.rbegin()->first + "'");
  items_.emplace_hint(items_.end(), std::move(key), std::move(item));
}

void StateDict::set(std::string key, Item item) {
  items_.insert_or_assign(std::move(key), std::move(item));
}

void StateDict::rename(std::string_view from, std::string to) {
  if (items_.find(to) != items_.end())
    throw Error("key '" + to + "' already exists; refusing to overwrite it");
  auto it = items_.find(from);
  if (it == items_.end()) throw Error("state dict has no key '" + std::string(from) + "'");
  auto node = items_.extract(it);
  node.key() = std::move(to);
  items_.insert(std::move(node));
}

Item StateDict::take(std::string_view key) {
  auto it = items_.find(key);
  if (it == items_.end()) throw Error("state dict has no key '" + std::string(key) + "'");
  Item item = std::move(it->second);
  items_.erase(it);
  return item;
}

bool StateDict::erase(std::string_view key) {
  auto it = items_.find(key);
  if (it == items_.end()) return false;
  items_.erase(it);
  return true;
}

void StateDict::for_each_with_prefix(
    std::string_view prefix, const std::function<void(const std::string&, const Item&)>& fn) const {
  for (auto it = items_.lower_bound(prefix); it != items_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    fn(it->first, it->second);
  }
}

std::vector<std::string> StateDict::keys_with_prefix(std::string_view prefix) const {
  std::vector<std::string> keys;
  for_each_with_prefix(prefix, [&](const std::string& key, const Item&) { keys.push_back(key); });
  return keys;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> keys;
  keys.reserve(items_.size());
  for (const auto& entry : items_) keys.push_back(entry.first);
  sort_naturally(keys, [](const std::string& k) -> std::string_view { return k; });
  return keys;
}

}  // namespace chainconv
