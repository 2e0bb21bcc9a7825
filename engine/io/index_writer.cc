#include "io/index_writer.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"

namespace chainconv {

std::string index_json(std::vector<std::pair<std::string, std::string>> weight_map,
                       uint64_t total_size) {
  sort_naturally(weight_map, [](const auto& e) -> std::string_view { return e.first; });
  // As nlohmann's dump(2) lays it out, but in one pass: an ordered JSON object looks each key
  // up by a linear scan, quadratic in the tensors.
  std::string text = "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total_size) +
                     "\n  },\n  \"weight_map\": {";
  for (size_t i = 0; i < weight_map.size(); ++i)
    text += std::string(i ? "," : "") + "\n    " + nlohmann::json(weight_map[i].first).dump() +
            ": " + nlohmann::json(weight_map[i].second).dump();
  text += weight_map.empty() ? "}\n}" : "\n  }\n}";
  return text + "\n";
}

void write_index(const std::string& path,
                 std::vector<std::pair<std::string, std::string>> weight_map, uint64_t total_size) {
  const std::string text = index_json(std::move(weight_map), total_size);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw Error(path + ": cannot write");
}

}  // namespace chainconv
