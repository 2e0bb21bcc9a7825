// What chainlint reports: one finding per problem, at the file:line:col it is about, with the
// check that found it. Printed gcc-style for people and as JSON for tools.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace chainconv {

enum class Severity { error, warning, note };
std::string_view severity_name(Severity s);

struct Finding {
  SourcePos pos;
  Severity severity = Severity::error;
  std::string message;
  std::string check;  // "schema", "reference", "placeholder", "dead", "roundtrip", ...

  // "file:line:col: error: message [check]"
  std::string str() const;
};

// Appends `f` unless a finding with the same position and message is already there (a piece
// used twice reports its problems once).
void add_finding(std::vector<Finding>& findings, Finding f);

// Sorted by file, line, column; stable for findings at one place.
void sort_findings(std::vector<Finding>& findings);

}  // namespace chainconv
