// The engine's value types are the public ones (<chainconv/types.h>): a position in a chain
// file, the one exception type, run options, warnings and findings. Here they get their
// engine-side names and the few helpers the engine needs around them.
#pragma once

#include <chainconv/types.h>

#include <string_view>

namespace chainconv {

using api::Direction;
using api::Error;
using api::Finding;
using api::kMaxExpertOffset;
using api::Options;
using api::Position;
using api::Warning;
using Severity = api::Finding::Severity;

std::string_view direction_name(Direction d);  // "to_prime" or "to_hf"
inline Direction opposite(Direction d) {
  return d == Direction::to_prime ? Direction::to_hf : Direction::to_prime;
}
std::string_view severity_name(Severity s);  // "error", "warning", "note"

// A failure its user resolves with a choice that only the interface they called can name (a
// flag of the CLI, an argument of the API): the engine says what is wrong, the tool says how
// to choose (tools/chainconv/report_format.cc).
class ChoiceError : public Error {
 public:
  enum class Choice {
    replace_destination,  // the destination exists
    name_chain,           // nothing says which chain converts the checkpoint
  };
  ChoiceError(Choice choice, const std::string& message) : Error(message), choice_(choice) {}
  Choice choice() const { return choice_; }

 private:
  Choice choice_;
};

}  // namespace chainconv
