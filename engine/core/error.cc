#include "core/error.h"

namespace chainconv {

std::string SourcePos::str() const {
  if (!known()) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

static std::string with_position(const SourcePos& pos, const std::string& message) {
  std::string where = pos.str();
  return where.empty() ? message : where + ": " + message;
}

Error::Error(SourcePos pos, const std::string& message)
    : std::runtime_error(with_position(pos, message)), pos_(std::move(pos)), message_(message) {}

}  // namespace chainconv
