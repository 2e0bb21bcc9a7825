// JSON from files a user names (safetensors headers, the index, config.json), parsed with
// bounds: nesting deeper than any real file needs is refused before it can exhaust the
// stack of whatever walks the result, and where a repeated key would be silently resolved
// (nlohmann keeps the last) it can be refused instead.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace chainconv {

// Real configs nest 4 or 5 levels, safetensors headers 3.
inline constexpr int kMaxJsonDepth = 64;

struct JsonParseOptions {
  int max_depth = kMaxJsonDepth;
  bool reject_duplicate_keys = false;
  std::string subject = "the file";   // how messages name the text: "the header", ...
  std::string top_level_key = "key";  // what a key of the outermost object names: "tensor"
  std::function<bool()> cancelled;    // polled while parsing; true throws Error("interrupted")
};

// Parses `text` from `path` in one pass; throws Error naming `path` when it is not JSON,
// nests deeper than max_depth, or (when asked) repeats a key within one object.
nlohmann::json parse_json(std::string_view text, const std::string& path,
                          const JsonParseOptions& options = {});

}  // namespace chainconv
