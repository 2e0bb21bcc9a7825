// A YAML node that knows where it came from (file, line, column) and which piece
// parameters are in force, so that every value read from a chain can be checked and every
// error can point at the exact place.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace chainconv {

using PieceParams = std::map<std::string, std::string>;

// An error in a chain file found by a check other than the schema's structure: "reference",
// "placeholder", "template", "lossy", ... (chainlint files each finding under its check).
// A plain Error from reading a node is a "schema" problem.
class CheckError : public Error {
 public:
  CheckError(Position pos, std::string check, const std::string& message)
      : Error(std::move(pos), message), check_(std::move(check)) {}
  const std::string& check() const { return check_; }

 private:
  std::string check_;
};

class Node {
 public:
  Node() : file_(std::make_shared<const std::string>()) {}
  Node(YAML::Node yaml, std::shared_ptr<const std::string> file,
       std::shared_ptr<const PieceParams> params = nullptr, Position fallback = {});

  Position pos() const;
  const std::string& file() const { return *file_; }
  bool defined() const { return yaml_.IsDefined() && !yaml_.IsNull(); }
  bool is_map() const { return yaml_.IsMap(); }
  bool is_list() const { return yaml_.IsSequence(); }
  bool is_scalar() const { return yaml_.IsScalar(); }
  const YAML::Node& yaml() const { return yaml_; }

  // Reading values; each throws Error at this node saying what was expected.
  std::string str(const std::string& what = "a string") const;  // ${param} substituted
  int64_t integer(const std::string& what = "an integer") const;
  // A scalar with piece parameters substituted and every other ${...} left as written: the
  // text of an expression over chain parameters and config values (ops read those through
  // Compiler::integer).
  std::string expression_text(const std::string& what) const;
  bool boolean(const std::string& what = "true or false") const;
  std::vector<Node> list(const std::string& what = "a list") const;
  // A scalar or a list of scalars, as a list.
  std::vector<Node> one_or_many(const std::string& what) const;

  // Map access. entries() keeps the keys' own positions for error messages.
  std::vector<std::pair<Node, Node>> entries(const std::string& what = "a mapping") const;
  bool has(const std::string& key) const;
  Node operator[](const std::string& key) const;  // undefined node (at our pos) if absent
  Node required(const std::string& key, const std::string& context) const;
  // Every key must be one of `allowed`; otherwise an error at the first unknown key.
  void allow_only(const std::vector<std::string>& allowed, const std::string& context) const;

  Node with_params(std::shared_ptr<const PieceParams> params) const;
  const std::shared_ptr<const PieceParams>& params() const { return params_; }

  Error error(const std::string& message) const { return Error(pos(), message); }

 private:
  std::string describe_kind() const;
  YAML::Node yaml_;
  std::shared_ptr<const std::string> file_;
  std::shared_ptr<const PieceParams> params_;
  Position fallback_;
};

}  // namespace chainconv
