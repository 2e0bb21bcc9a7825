// Reasoning about key templates without a state dict: can two templates match one key, and
// does one match every key the other does? Placeholders fill whole dotted segments, so a
// template is a sequence of segment classes (a literal, digits, any segment, one or more
// segments); a prefix template ends in "one or more segments".
#pragma once

#include "core/key_template.h"

namespace chainconv {

// Some key matches both (placeholders taken as independent).
bool may_overlap(const KeyTemplate& a, const KeyTemplate& b);

// Every key that matches `inner` also matches `outer`. Sound, not complete: true only
// when inclusion is certain.
bool covers(const KeyTemplate& outer, const KeyTemplate& inner);

}  // namespace chainconv
