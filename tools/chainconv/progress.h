// Progress of a conversion on stderr: a redrawn bar (tensors, bytes, rate, ETA) when stderr
// is a terminal, plain lines otherwise (logs, CI: the start, every few seconds, the end),
// nothing when quiet.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "io/convert.h"

namespace chainconv::cli {

class ProgressDisplay {
 public:
  enum class Mode { bar, lines, quiet };
  ProgressDisplay(std::ostream& out, Mode mode) : out_(out), mode_(mode) {}
  // The mode for stderr: bar on a terminal, lines otherwise, quiet when asked.
  static Mode mode_for_stderr(bool quiet);

  void update(const ConvertProgress& p);
  // Ends a bar's line (so later output starts on a fresh one).
  void finish();

 private:
  std::string line(const ConvertProgress& p, double seconds) const;

  std::ostream& out_;
  Mode mode_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace chainconv::cli
