// Sizes on the command line (--max-shard-size).
#pragma once

#include <cstdint>
#include <string>

namespace chainconv::cli {

// "5GB" (10^9), "500MB", "2GiB" (2^30), "1024" (bytes). Throws Error when malformed.
uint64_t parse_size(const std::string& text);

}  // namespace chainconv::cli
