// An expert offset given on a command line, checked against the library's bound
// (kMaxExpertOffset, chainconv/types.h) with the option named in the message.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"

namespace chainconv {

// Throws Error ("--expert-offset N: ...") unless 0 <= offset <= kMaxExpertOffset.
inline void check_expert_offset(int64_t offset, const std::string& option = "--expert-offset") {
  if (offset < 0 || offset > kMaxExpertOffset)
    throw Error(option + " " + std::to_string(offset) +
                ": out of range (an expert offset is 0 to " + std::to_string(kMaxExpertOffset) +
                ")");
}

}  // namespace chainconv
