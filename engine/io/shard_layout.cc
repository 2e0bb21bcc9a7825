#include "io/shard_layout.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/dtypes.h"
#include "core/error.h"
#include "core/text.h"

namespace chainconv {
namespace {

std::string shard_name(size_t i, size_t n) {
  if (n == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

size_t itemsize_of(const OutputTensor& t) {
  const DtypeInfo* info = find_dtype(t.dtype);
  if (!info) throw Error("cannot write tensor '" + t.key + "': unknown dtype '" + t.dtype + "'");
  return info->itemsize;
}

// One shard's header and data offsets for `tensors` (natural key order).
ShardLayout lay_out(std::string name, const std::vector<const OutputTensor*>& tensors) {
  ShardLayout shard;
  shard.name = std::move(name);
  // Data ordered widest dtype first (as the safetensors library does) keeps every tensor
  // aligned to its item size; the header lists keys in natural order.
  std::vector<const OutputTensor*> data_order = tensors;
  std::stable_sort(data_order.begin(), data_order.end(),
                   [](const OutputTensor* a, const OutputTensor* b) {
                     return itemsize_of(*a) > itemsize_of(*b);
                   });
  std::map<const OutputTensor*, uint64_t> begin;
  for (const OutputTensor* t : data_order) {
    begin[t] = shard.data_size;
    shard.data_size += t->nbytes;
  }
  // Written out directly, as nlohmann's dump() would, but in one pass: an ordered JSON
  // object looks each key up by a linear scan, quadratic in the tensors of a shard.
  std::string& text = shard.header;
  text = R"({"__metadata__":{"format":"pt"})";
  for (const OutputTensor* t : tensors)
    text += ',' + nlohmann::json(t->key).dump() + R"(:{"dtype":)" +
            nlohmann::json(t->dtype).dump() + R"(,"shape":)" + nlohmann::json(t->shape).dump() +
            R"(,"data_offsets":[)" + std::to_string(begin[t]) + ',' +
            std::to_string(begin[t] + t->nbytes) + "]}";
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');
  // Extra padding (a multiple of 8, under a page) so that the most bytes of tensors with a
  // page phase start at it: data_start = phase - begin (mod kPageSize) for each.
  std::map<uint64_t, uint64_t> votes;
  for (const OutputTensor* t : data_order)
    if (t->page_phase >= 0) {
      const uint64_t want =
          (static_cast<uint64_t>(t->page_phase) + kPageSize - begin[t] % kPageSize) % kPageSize;
      if (want % 8 == 0) votes[want] += t->nbytes;
    }
  uint64_t best = 0, best_votes = 0;
  for (const auto& [want, bytes] : votes)
    if (bytes > best_votes) best = want, best_votes = bytes;
  if (best_votes > 0)
    text.append((best + kPageSize - (8 + text.size()) % kPageSize) % kPageSize, ' ');
  shard.data_start = 8 + text.size();
  for (const OutputTensor* t : tensors) shard.places.push_back({t, shard.data_start + begin[t]});
  return shard;
}

}  // namespace

std::vector<ShardLayout> layout_shards(std::vector<OutputTensor>& tensors, uint64_t max_shard_size,
                                       const std::function<void()>& check) {
  sort_naturally(tensors, [](const OutputTensor& t) -> std::string_view { return t.key; });
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].key == tensors[i - 1].key)
      throw Error("two output tensors are named '" + tensors[i].key + "'");
  // HF's rule: start a new shard when the next tensor would overflow a non-empty one; a
  // tensor larger than the limit gets a shard of its own.
  std::vector<std::vector<const OutputTensor*>> groups;
  uint64_t current = 0;
  for (const OutputTensor& t : tensors) {
    if (groups.empty() || (!groups.back().empty() && current + t.nbytes > max_shard_size)) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(&t);
    current += t.nbytes;
  }
  if (groups.empty()) groups.emplace_back();
  std::vector<ShardLayout> shards;
  shards.reserve(groups.size());
  for (size_t s = 0; s < groups.size(); ++s) {
    if (check) check();
    shards.push_back(lay_out(shard_name(s, groups.size()), groups[s]));
  }
  return shards;
}

}  // namespace chainconv
