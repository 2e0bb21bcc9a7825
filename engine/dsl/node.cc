#include "dsl/node.h"

#include <algorithm>

#include "core/params.h"

namespace chainconv {

Node::Node(YAML::Node yaml, std::shared_ptr<const std::string> file,
           std::shared_ptr<const PieceParams> params, Position fallback)
    : yaml_(std::move(yaml)),
      file_(std::move(file)),
      params_(std::move(params)),
      fallback_(std::move(fallback)) {}

Position Node::pos() const {
  if (yaml_.IsDefined()) {
    YAML::Mark mark = yaml_.Mark();
    if (mark.line >= 0) return Position{*file_, mark.line + 1, mark.column + 1};
  }
  return fallback_.known() ? fallback_ : Position{*file_, 0, 0};
}

std::string Node::describe_kind() const {
  if (!yaml_.IsDefined() || yaml_.IsNull()) return "nothing";
  if (yaml_.IsMap()) return "a mapping";
  if (yaml_.IsSequence()) return "a list";
  return "'" + yaml_.Scalar() + "'";
}

std::string Node::str(const std::string& what) const {
  if (!yaml_.IsScalar()) throw error("expected " + what + ", found " + describe_kind());
  auto lookup = [this](const std::string& name) -> const std::string* {
    if (!params_) return nullptr;
    auto found = params_->find(name);
    return found == params_->end() ? nullptr : &found->second;
  };
  try {
    return substitute_params(yaml_.Scalar(), lookup, pos(), "piece parameter",
                             params_ ? "" : " (parameters exist only inside a piece)");
  } catch (const Error& e) {
    throw CheckError(e.pos(), "reference", e.message());
  }
}

std::string Node::expression_text(const std::string& what) const {
  if (!yaml_.IsScalar()) throw error("expected " + what + ", found " + describe_kind());
  std::string kept;  // "${name}" for a name that is not a piece parameter
  auto lookup = [&](const std::string& name) -> const std::string* {
    if (params_) {
      auto found = params_->find(name);
      if (found != params_->end()) return &found->second;
    }
    kept = "${" + name + "}";
    return &kept;
  };
  try {
    return substitute_params(yaml_.Scalar(), lookup, pos(), "piece parameter");
  } catch (const Error& e) {
    throw CheckError(e.pos(), "schema", e.message());
  }
}

int64_t Node::integer(const std::string& what) const {
  std::string text = str(what);
  try {
    size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw error("expected " + what + ", found '" + text + "'");
}

bool Node::boolean(const std::string& what) const {
  std::string text = str(what);
  if (text == "true") return true;
  if (text == "false") return false;
  throw error("expected " + what + ", found '" + text + "'");
}

std::vector<Node> Node::list(const std::string& what) const {
  if (!yaml_.IsSequence()) throw error("expected " + what + ", found " + describe_kind());
  std::vector<Node> items;
  for (const auto& child : yaml_) items.emplace_back(child, file_, params_, pos());
  return items;
}

std::vector<Node> Node::one_or_many(const std::string& what) const {
  if (yaml_.IsSequence()) {
    auto items = list(what);
    if (items.empty()) throw error("expected " + what + ", found an empty list");
    return items;
  }
  str(what);  // throws with a clear message if not a scalar
  return {*this};
}

std::vector<std::pair<Node, Node>> Node::entries(const std::string& what) const {
  if (!yaml_.IsMap()) throw error("expected " + what + ", found " + describe_kind());
  std::vector<std::pair<Node, Node>> result;
  for (const auto& kv : yaml_)
    result.emplace_back(Node(kv.first, file_, params_, pos()),
                        Node(kv.second, file_, params_, pos()));
  return result;
}

bool Node::has(const std::string& key) const {
  if (!yaml_.IsMap()) return false;
  for (const auto& kv : yaml_)
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return true;
  return false;
}

Node Node::operator[](const std::string& key) const {
  if (yaml_.IsMap()) {
    for (const auto& kv : yaml_)
      if (kv.first.IsScalar() && kv.first.Scalar() == key)
        return Node(kv.second, file_, params_, pos());
  }
  return Node(YAML::Node(YAML::NodeType::Undefined), file_, params_, pos());
}

Node Node::required(const std::string& key, const std::string& context) const {
  if (!yaml_.IsMap())
    throw error("expected " + context + " as a mapping, found " + describe_kind());
  if (!has(key)) throw error("missing field '" + key + "' in " + context);
  return (*this)[key];
}

void Node::allow_only(const std::vector<std::string>& allowed, const std::string& context) const {
  for (const auto& [key, value] : entries(context)) {
    std::string name = key.yaml().IsScalar() ? key.yaml().Scalar() : "?";
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string expected;
    for (const auto& a : allowed) expected += (expected.empty() ? "" : ", ") + a;
    throw key.error("unknown field '" + name + "' in " + context +
                    " (expected one of: " + expected + ")");
  }
}

Node Node::with_params(std::shared_ptr<const PieceParams> params) const {
  return Node(yaml_, file_, std::move(params), fallback_);
}

}  // namespace chainconv
