// Small helpers shared by the op units.
#pragma once

#include <string>
#include <vector>

#include "core/key_template.h"

namespace chainconv {

class Compiler;

// Invertibility needs both sides of a move to bind the same placeholders (minus `except`):
// a target placeholder the source does not bind could not be filled, and a source
// placeholder the target drops would merge keys. Each violation is a "placeholder" problem
// reported to `c` at `target`'s position.
void require_same_placeholders(Compiler& c, const KeyTemplate& source, const KeyTemplate& target,
                               const std::vector<std::string>& except = {});
// Every placeholder of `target` is bound by `source` (a key made from another one).
void require_bound(Compiler& c, const KeyTemplate& source, const KeyTemplate& target);

}  // namespace chainconv
