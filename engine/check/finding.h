// What chainlint reports: one finding (core/error.h: the public api::Finding) per problem,
// at the file:line:col it is about, with the check that found it.
#pragma once

#include <vector>

#include "core/error.h"

namespace chainconv {

// Appends `f` unless a finding with the same position and message is already there (a piece
// used twice reports its problems once).
void add_finding(std::vector<Finding>& findings, Finding f);

// Sorted by file, line, column; stable for findings at one place.
void sort_findings(std::vector<Finding>& findings);

}  // namespace chainconv
