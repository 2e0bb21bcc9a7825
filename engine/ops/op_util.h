// Small helpers shared by the op units.
#pragma once

#include <string>
#include <vector>

#include "core/key_template.h"

namespace chainconv {

// Invertibility needs both sides of a move to bind the same placeholders (minus `except`):
// a target placeholder the source does not bind could not be filled, and a source
// placeholder the target drops would merge keys. Throws Error at `target`'s position.
void require_same_placeholders(const KeyTemplate& source, const KeyTemplate& target,
                               const std::vector<std::string>& except = {});

// "[4, 8, 16]"
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace chainconv
