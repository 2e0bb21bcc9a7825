// A YAML document as a plain tree, converted from yaml-cpp once. The layout interpreter walks
// the same few nodes for every layer and expert of a model; yaml-cpp's nodes are slow to
// walk (reference-counted handles, and an absent key formats a message), this one is not.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chainconv {

class Doc {
 public:
  enum class Kind { undefined, null, scalar, sequence, map };

  Doc() = default;  // undefined: what an absent key gives
  static Doc from(const YAML::Node& node);

  Kind kind() const { return kind_; }
  explicit operator bool() const { return kind_ != Kind::undefined; }
  bool IsMap() const { return kind_ == Kind::map; }
  bool IsSequence() const { return kind_ == Kind::sequence; }
  bool IsScalar() const { return kind_ == Kind::scalar; }
  const std::string& Scalar() const { return scalar_; }
  // 0-based, as yaml-cpp's marks are.
  int line() const { return line_; }
  int column() const { return column_; }
  size_t size() const { return kind_ == Kind::map ? entries_.size() : items_.size(); }

  // The value under `key` in a map; an undefined Doc when there is none.
  const Doc& operator[](std::string_view key) const;
  const std::vector<Doc>& items() const { return items_; }                      // a sequence
  const std::vector<std::pair<Doc, Doc>>& entries() const { return entries_; }  // a map

 private:
  Kind kind_ = Kind::undefined;
  std::string scalar_;
  int line_ = -1, column_ = -1;
  std::vector<Doc> items_;
  std::vector<std::pair<Doc, Doc>> entries_;
};

}  // namespace chainconv
