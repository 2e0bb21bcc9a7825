#include "check/finding.h"

#include <algorithm>
#include <tuple>

namespace chainconv {

void add_finding(std::vector<Finding>& findings, Finding f) {
  for (const Finding& existing : findings)
    if (existing.pos.file == f.pos.file && existing.pos.line == f.pos.line &&
        existing.pos.col == f.pos.col && existing.message == f.message)
      return;
  findings.push_back(std::move(f));
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.pos.file, a.pos.line, a.pos.col) <
           std::tie(b.pos.file, b.pos.line, b.pos.col);
  });
}

}  // namespace chainconv
