// The public value types: positions, the exception, warnings.
#include "chainconv/chainconv.h"

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

}  // namespace chainconv::api
