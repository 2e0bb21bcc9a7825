// model.safetensors.index.json, as HuggingFace writes it (nlohmann's dump(2) layout):
// metadata.total_size and the weight_map in natural key order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chainconv {

// The index's text for `weight_map` (key -> shard file name, any order).
std::string index_json(std::vector<std::pair<std::string, std::string>> weight_map,
                       uint64_t total_size);
// Writes it to `path`; throws Error naming the file when it cannot.
void write_index(const std::string& path,
                 std::vector<std::pair<std::string, std::string>> weight_map, uint64_t total_size);

}  // namespace chainconv
