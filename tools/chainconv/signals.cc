#include "chainconv/signals.h"

namespace chainconv::cli {
namespace {

volatile std::sig_atomic_t g_received = 0;

extern "C" void on_signal(int signal) {
  if (g_received == 0) g_received = signal;
}

}  // namespace

SignalGuard::SignalGuard() {
  g_received = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // Restarted system calls: the flag is polled, and code that does not expect EINTR (a
  // stream writing the index, say) should not fail because a signal came.
  action.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i)
    sigaction(kSignals[i], &action, &old_[i]);
}

SignalGuard::~SignalGuard() {
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i)
    sigaction(kSignals[i], &old_[i], nullptr);
}

int SignalGuard::received() { return g_received; }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace chainconv::cli
