// The bound on an expert offset given on a command line. Expert indices become key segments
// and are summed with local indices; far below int64's range, no sum can overflow into a
// negative id (9223372036854775806 + 2 experts would), and no real model has 2^31 experts.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"

namespace chainconv {

inline constexpr int64_t kMaxExpertOffset = (int64_t{1} << 31) - 1;

// Throws Error ("--expert-offset N: ...") unless 0 <= offset <= kMaxExpertOffset.
inline void check_expert_offset(int64_t offset, const std::string& option = "--expert-offset") {
  if (offset < 0 || offset > kMaxExpertOffset)
    throw Error(option + " " + std::to_string(offset) +
                ": out of range (an expert offset is 0 to " + std::to_string(kMaxExpertOffset) +
                ")");
}

}  // namespace chainconv
