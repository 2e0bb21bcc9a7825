// The signals that end a conversion early: Ctrl-C (SIGINT), kill (SIGTERM), a closed
// terminal (SIGHUP), Ctrl-\ (SIGQUIT) and a closed pipe (SIGPIPE). While a guard lives they
// only raise a flag, which the conversion polls in every phase and unwinds on, removing its
// temporary directory; by default each of them would kill the process and leave it behind.
#pragma once

#include <csignal>
#include <string>

namespace chainconv::cli {

class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // The first signal received while a guard was installed, or 0.
  static int received();

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
  struct sigaction old_[sizeof kSignals / sizeof kSignals[0]] = {};
};

// "SIGTERM", or "signal N".
std::string signal_name(int signal);

}  // namespace chainconv::cli
