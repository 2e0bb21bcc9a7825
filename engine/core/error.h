// Source positions and the one exception type the library throws.
#pragma once

#include <stdexcept>
#include <string>

namespace chainconv {

// A place in a chain file. Lines and columns are 1-based, as editors and gcc show them;
// line 0 means "no position" (a state-dict error, say).
struct SourcePos {
  std::string file;
  int line = 0;
  int col = 0;

  bool known() const { return line > 0; }
  // "file:line:col", or just the file, or "" when nothing is known.
  std::string str() const;
};

// Every failure the library reports: a bad chain (with its position), a bad state dict
// (naming the keys), a bad checkpoint (naming the file and tensor). what() is the full
// one-line message, prefixed with "file:line:col: " when a position is known.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : Error(SourcePos{}, message) {}
  Error(SourcePos pos, const std::string& message);

  const SourcePos& pos() const { return pos_; }
  // The message without its position prefix.
  const std::string& message() const { return message_; }

 private:
  SourcePos pos_;
  std::string message_;
};

}  // namespace chainconv
