// The static checks: what can be told from a compiled chain, without a key set. (The rules
// about a chain's text, pieces, templates and placeholders live where the compiler applies
// them, in dsl/ and in each op's parse.)
#pragma once

#include <vector>

#include "check/finding.h"
#include "dsl/chain.h"

namespace chainconv {

// On a compiled chain, in each direction, following the order ops run in and treating the
// branches of a conditional as exclusive:
//   write-conflict  two ops write keys one template could name, nothing consuming in between
//                   (a prefix or path template only when both name exactly the same keys)
//   dead            an op reads a template an earlier op always consumes
//   precedence      a predicate tests a key an earlier op (may have) consumed
std::vector<Finding> check_flow(const Chain& chain);

}  // namespace chainconv
