// The public value types (<chainconv/types.h>), defined once for the engine and the API.
#include "core/error.h"

namespace chainconv {

std::string_view direction_name(Direction d) {
  return d == Direction::to_prime ? "to_prime" : "to_hf";
}

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::error:
      return "error";
    case Severity::warning:
      return "warning";
    case Severity::note:
      return "note";
  }
  return "error";
}

}  // namespace chainconv

namespace chainconv::api {

std::string Position::str() const {
  if (!known()) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

static std::string with_position(const Position& pos, const std::string& message) {
  std::string where = pos.str();
  return where.empty() ? message : where + ": " + message;
}

Error::Error(Position pos, const std::string& message)
    : std::runtime_error(with_position(pos, message)), pos_(std::move(pos)), message_(message) {}

std::string Warning::str() const { return with_position(pos, "warning: " + message); }

std::string Finding::str() const {
  return with_position(
      pos, std::string(chainconv::severity_name(severity)) + ": " + message + " [" + check + "]");
}

}  // namespace chainconv::api
