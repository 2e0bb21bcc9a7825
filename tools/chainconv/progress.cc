#include "chainconv/progress.h"

#include <unistd.h>

#include <cstdio>

#include "chainconv/report_format.h"

namespace chainconv::cli {

ProgressDisplay::Mode ProgressDisplay::mode_for_stderr(bool quiet) {
  if (quiet) return Mode::quiet;
  return isatty(STDERR_FILENO) ? Mode::bar : Mode::lines;
}

std::string ProgressDisplay::line(const ConvertProgress& p, double seconds) const {
  const double fraction =
      p.bytes_total     ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
      : p.tensors_total ? static_cast<double>(p.tensors_done) / static_cast<double>(p.tensors_total)
                        : 1.0;
  const double rate = seconds > 0 ? static_cast<double>(p.bytes_done) / seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(p.bytes_total - p.bytes_done) / rate : -1;
  char percent[16];
  std::snprintf(percent, sizeof percent, "%3.0f%%", fraction * 100);
  std::string text = std::string(p.stage) + " " + percent;
  if (mode_ == Mode::bar) {
    const int width = 24, filled = static_cast<int>(fraction * width);
    text += " [" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  }
  text += " " + std::to_string(p.tensors_done) + "/" + std::to_string(p.tensors_total) +
          " tensors, " + human_bytes(p.bytes_done) + "/" + human_bytes(p.bytes_total) + ", " +
          human_bytes(static_cast<uint64_t>(rate)) + "/s";
  if (p.bytes_done < p.bytes_total)
    text += ", ETA " + duration_text(eta);
  else
    text += ", " + duration_text(seconds);
  return text;
}

void ProgressDisplay::update(const ConvertProgress& p) {
  if (mode_ == Mode::quiet) return;
  const auto now = std::chrono::steady_clock::now();
  if (p.stage != stage_) {
    finish();
    stage_ = std::string(p.stage);
    start_ = now;
  }
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const bool done = p.tensors_done == p.tensors_total;
  if (mode_ == Mode::bar) {
    if (!done && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    out_ << "\r\033[K" << line(p, seconds) << std::flush;
    drawn_ = true;
    last_draw_ = now;
    return;
  }
  // Off a terminal: the totals at the start, a line every few seconds, and the end.
  if (drawn_ && !done && now - last_draw_ < std::chrono::seconds(5)) return;
  drawn_ = !done;
  last_draw_ = now;
  out_ << "chainconv: " << line(p, seconds) << "\n" << std::flush;
}

void ProgressDisplay::finish() {
  if (mode_ == Mode::bar && drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace chainconv::cli
