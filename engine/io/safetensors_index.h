// model.safetensors.index.json: which shard file holds each tensor of a sharded checkpoint.
// Parsing is separate from reading so that the index fuzzer can call it alone.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace chainconv {

// The index's weight_map (tensor key -> shard file name) from the index text `text`, named
// `path` in errors. Throws Error naming the file (and the key) when the text is not JSON,
// nests too deeply, repeats a key, or a shard is not a plain file name of the checkpoint's
// directory.
std::map<std::string, std::string> parse_safetensors_index(const std::string& path,
                                                           std::string_view text);

}  // namespace chainconv
