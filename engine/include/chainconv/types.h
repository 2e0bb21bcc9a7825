// The value types of chainconv's public interface that need no LibTorch: directions,
// positions in chain files, the one exception type, run options, warnings and findings.
// <chainconv/chainconv.h> includes this header; the engine uses these same types inside, so
// what the library throws or returns is exactly what it computed, with no translation.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__GNUC__)
#define CHAINCONV_API __attribute__((visibility("default")))
#else
#define CHAINCONV_API
#endif

namespace chainconv::api {

// to_prime: HF -> prime (the chain played forward). to_hf: prime -> HF (inverses, reversed).
enum class Direction { to_prime, to_hf };

// A place in a chain file; 1-based like gcc and editors. line == 0: no position known.
struct CHAINCONV_API Position {
  std::string file;
  int line = 0;
  int col = 0;

  bool known() const { return line > 0; }
  // "file:line:col", the file alone, or "" when nothing is known.
  std::string str() const;
};

// The one exception type. what() is the whole message, "file:line:col: " first when the
// failure has a place in a chain file.
class CHAINCONV_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : Error(Position{}, message) {}
  Error(Position pos, const std::string& message);

  const Position& pos() const { return pos_; }
  // The message without its position prefix.
  const std::string& message() const { return message_; }

 private:
  Position pos_;
  std::string message_;
};

struct Options {
  // The global index of the first expert in the map: per-expert keys are numbered from here
  // in both directions (row r of a stacked tensor is expert expert_offset + r). At most
  // kMaxExpertOffset, so that every expert id a conversion writes is a valid index.
  int64_t expert_offset = 0;
  // Throw warnings as Errors.
  bool strict = false;
  // Values of the chain's parameters (its `params:`), by name, as text: "true", "fused",
  // "8", "128,128". A name the chain does not declare, or a value of the wrong type, is an
  // Error naming the parameter.
  std::map<std::string, std::string> params;
  // The text of the model's config.json, for the ${config.field} values a chain reads (its
  // parameters' defaults, its expressions); empty when there is none. Parsed only when the
  // chain reads one; a field it reads that is missing is an Error at the place that reads it.
  std::string config;
};
// Expert indices become key segments and are summed with local indices: far below int64's
// range no sum can overflow into a negative id, and no real model has 2^31 experts.
inline constexpr int64_t kMaxExpertOffset = (int64_t{1} << 31) - 1;

struct CHAINCONV_API Warning {
  Position pos;  // the op that warned
  std::string message;
  // "file:line:col: warning: message"
  std::string str() const;
};

// One problem the checks found, at the place in the chain it is about.
struct CHAINCONV_API Finding {
  enum class Severity { error, warning, note };

  Position pos;
  Severity severity = Severity::error;
  std::string message;
  std::string check;  // which check: "schema", "reference", "roundtrip", "coverage", ...

  // "file:line:col: error: message [check]", as chainlint prints it.
  std::string str() const;
};

}  // namespace chainconv::api
