#include "layout/doc.h"

namespace chainconv {

Doc Doc::from(const YAML::Node& node) {
  Doc d;
  if (!node.IsDefined()) return d;
  const YAML::Mark mark = node.Mark();
  d.line_ = mark.line;
  d.column_ = mark.column;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      d.kind_ = Kind::scalar;
      d.scalar_ = node.Scalar();
      break;
    case YAML::NodeType::Sequence:
      d.kind_ = Kind::sequence;
      for (const auto& item : node) d.items_.push_back(from(item));
      break;
    case YAML::NodeType::Map:
      d.kind_ = Kind::map;
      for (const auto& kv : node) d.entries_.emplace_back(from(kv.first), from(kv.second));
      break;
    case YAML::NodeType::Null:
      d.kind_ = Kind::null;
      break;
    default:
      break;
  }
  return d;
}

const Doc& Doc::operator[](std::string_view key) const {
  static const Doc undefined;
  for (const auto& [k, v] : entries_)
    if (k.kind_ == Kind::scalar && k.scalar_ == key) return v;
  return undefined;
}

}  // namespace chainconv
