// check_references: the chain's text, walked the way the compiler walks it (pieces expanded
// with each use's parameters), but collecting every problem instead of stopping at one.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "check/static_checks.h"
#include "dsl/node.h"
#include "ops/transforms.h"

namespace chainconv {
namespace {

struct PieceEntry {
  Node ops;
  std::vector<std::string> params;
  SourcePos pos;
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Walker {
 public:
  explicit Walker(std::vector<Finding>& out) : out_(out) {}

  void define_pieces(const SourceFile& file) {
    if (!file.root.IsMap() || !file.root["pieces"] || !file.root["pieces"].IsMap()) return;
    auto name = std::make_shared<const std::string>(file.path);
    for (const auto& kv : file.root["pieces"]) {
      Node key(kv.first, name), value(kv.second, name, nullptr, key.pos());
      if (!kv.first.IsScalar() || !value.is_map()) continue;  // the schema reports these
      const std::string piece = kv.first.Scalar();
      PieceEntry entry{value["ops"], {}, key.pos()};
      if (value["params"].is_list())
        for (const Node& p : value["params"].list())
          if (p.is_scalar()) entry.params.push_back(p.yaml().Scalar());
      auto [it, inserted] = pieces_.emplace(piece, entry);
      if (!inserted)
        report(key.pos(), "piece '" + piece + "' is already defined at " + it->second.pos.str(),
               "reference");
    }
  }

  void ops(const Node& list) {
    if (!list.is_list()) return;
    for (const Node& item : list.list()) {
      try {
        op(item);
      } catch (const Error& e) {
        report(e.pos(), e.message(), "reference");
      }
    }
  }

 private:
  void report(const SourcePos& pos, const std::string& message, const std::string& check) {
    add_finding(out_, Finding{pos, Severity::error, message, check});
  }

  void op(const Node& node) {
    if (!node.is_map()) return;
    if (node.has("use")) return use(node);
    if (node.has("if")) {
      predicate(node["if"]);
      ops(node["then"]);
      ops(node["else"]);
      return;
    }
    if (Node a = node["rename"]; a.is_map()) {
      auto to = key(a["to"]);
      if (a["from"].is_list() || a["from"].is_scalar())
        for (const Node& f : a["from"].is_list() ? a["from"].list() : std::vector<Node>{a["from"]})
          if (auto from = key(f); from && to) bound(*from, *to);
    } else if (Node a = node["prefix_rename"]; a.is_map()) {
      auto from = key(a["from"], true), to = key(a["to"], true);
      if (from && to) bound(*from, *to);
    } else if (Node a = node["split"]; a.is_map()) {
      auto from = key(a["from"]);
      if (a["into"].is_list())
        for (const Node& part : a["into"].list())
          if (auto to = key(part); from && to) bound(*from, *to);
    } else if (Node a = node["stack"]; a.is_map()) {
      stack(a);
    } else if (Node a = node["synthetic"]; a.is_map()) {
      auto k = key(a["key"]), like = key(a["like"]);
      if (k && like)
        for (const std::string& name : k->placeholder_names())
          if (!like->has_placeholder(name)) unbound(name, *k, *like);
    } else if (Node a = node["map"]; a.is_map()) {
      key(a["key"]);
      value_map(a);
    } else if (Node a = node["drop"]; a.is_map()) {
      for (const char* field : {"keys", "prefix"})
        if (a[field].is_list() || a[field].is_scalar())
          for (const Node& k : a[field].is_list() ? a[field].list() : std::vector<Node>{a[field]})
            key(k, std::string(field) == "prefix");
    } else if (Node a = node["squeeze_leading"]; a.is_map()) {
      key(a["key"]);
    }
  }

  void use(const Node& node) {
    Node name_node = node["use"];
    if (!name_node.is_scalar()) return;
    const std::string name = name_node.str();
    auto it = pieces_.find(name);
    if (it == pieces_.end()) {
      std::vector<std::string> known;
      for (const auto& [n, p] : pieces_) known.push_back(n);
      return report(name_node.pos(),
                    "undefined piece '" + name + "'" +
                        (known.empty() ? "" : " (defined: " + join(known) + ")"),
                    "reference");
    }
    const PieceEntry& piece = it->second;
    auto params = std::make_shared<PieceParams>();
    bool complete = true;
    if (node["with"].is_map()) {
      for (const auto& [k, v] : node["with"].entries()) {
        if (!k.is_scalar()) continue;
        const std::string param = k.yaml().Scalar();
        if (std::find(piece.params.begin(), piece.params.end(), param) == piece.params.end()) {
          report(k.pos(), "piece '" + name + "' has no parameter '" + param + "'", "reference");
          continue;
        }
        try {
          (*params)[param] = v.str("a string value for parameter '" + param + "'");
        } catch (const Error& e) {
          report(e.pos(), e.message(), "reference");
          complete = false;
        }
      }
    }
    for (const std::string& param : piece.params) {
      if (params->count(param) || !complete) continue;
      report(node.pos(), "piece '" + name + "' needs parameter '" + param + "'", "reference");
      complete = false;
    }
    if (std::find(stack_.begin(), stack_.end(), name) != stack_.end())
      return report(name_node.pos(),
                    "piece '" + name + "' uses itself (through " + stack_.front() + ")",
                    "reference");
    if (!complete) return;  // its templates cannot be expanded
    stack_.push_back(name);
    ops(piece.ops.with_params(params));
    stack_.pop_back();
  }

  void predicate(const Node& p) {
    if (!p.is_map()) return;
    for (const auto& [head, arg] : p.entries()) {
      if (!head.is_scalar()) continue;
      const std::string name = head.yaml().Scalar();
      if (name == "present" || name == "absent") key(arg);
      if ((name == "all" || name == "any") && arg.is_list())
        for (const Node& item : arg.list()) predicate(item);
      if (name == "not") predicate(arg);
      if ((name == "ndim" || name == "size") && arg.is_map()) key(arg["key"]);
    }
  }

  void stack(const Node& a) {
    auto from = key(a["from"]), to = key(a["to"]);
    std::string index = a["index"].is_scalar() ? a["index"].str() : "expert";
    if (!from || !to) return;
    if (!from->has_placeholder(index))
      return report(from->pos(),
                    "'" + from->text() + "' has no placeholder {" + index + "} to stack on",
                    "placeholder");
    if (to->has_placeholder(index))
      return report(to->pos(),
                    "'" + to->text() + "' must not contain the stacking index {" + index + "}",
                    "placeholder");
    bound(*from, *to, index);
  }

  void value_map(const Node& a) {
    if (!a["forward"].is_scalar() || !a["backward"].is_scalar() || a.has("lossy")) return;
    const Transform* fwd = find_transform(a["forward"].str());
    const Transform* bwd = find_transform(a["backward"].str());
    if (!fwd || !bwd || fwd->inverse == bwd->name) return;
    report(a.pos(),
           "backward '" + std::string(bwd->name) + "' does not undo forward '" +
               std::string(fwd->name) + "'; declare the step with 'lossy: <reason>'",
           "lossy");
  }

  std::optional<KeyTemplate> key(const Node& n, bool prefix = false) {
    if (!n.is_scalar()) return std::nullopt;  // absent or not a string: the schema says so
    try {
      return KeyTemplate::compile(n.str(), n.pos(), prefix);
    } catch (const Error& e) {
      report(e.pos(), e.message(),
             e.message().find("piece parameter") != std::string::npos ? "reference" : "template");
      return std::nullopt;
    }
  }

  // Both sides of a move must bind the same placeholders (but `except`).
  void bound(const KeyTemplate& source, const KeyTemplate& target, const std::string& except = "") {
    for (const std::string& name : target.placeholder_names())
      if (name != except && !source.has_placeholder(name)) unbound(name, target, source);
    for (const std::string& name : source.placeholder_names())
      if (name != except && !target.has_placeholder(name))
        report(target.pos(),
               "'" + target.text() + "' drops placeholder {" + name + "} of '" + source.text() +
                   "', so distinct keys would collide",
               "placeholder");
  }

  void unbound(const std::string& name, const KeyTemplate& target, const KeyTemplate& source) {
    report(target.pos(),
           "placeholder {" + name + "} in '" + target.text() + "' is not bound by '" +
               source.text() + "'",
           "placeholder");
  }

  std::vector<Finding>& out_;
  std::map<std::string, PieceEntry> pieces_;
  std::vector<std::string> stack_;
};

}  // namespace

std::vector<Finding> check_references(const std::vector<SourceFile>& files) {
  std::vector<Finding> findings;
  if (files.empty()) return findings;
  Walker walker(findings);
  for (const SourceFile& file : files) walker.define_pieces(file);
  const SourceFile& root = files.back();
  if (root.root.IsMap() && root.root["ops"])
    walker.ops(Node(root.root["ops"], std::make_shared<const std::string>(root.path)));
  return findings;
}

}  // namespace chainconv
