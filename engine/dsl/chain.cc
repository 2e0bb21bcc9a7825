#include "dsl/chain.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/read_file.h"
#include "dsl/compiler.h"

namespace fs = std::filesystem;

namespace chainconv {

std::vector<Warning> Chain::run(StateDict& dict, Direction direction, const RunOptions& options,
                                Observer* observer) const {
  std::vector<Warning> warnings;
  Context ctx{dict, direction, options, {}, &warnings, observer};
  run_ops(ops, ctx);
  return warnings;
}

namespace {

// yaml-cpp accepts a key twice in one mapping and keeps one silently; a chain must not.
void reject_duplicate_keys(const Node& node) {
  if (node.is_map()) {
    std::set<std::string> seen;
    for (const auto& [key, value] : node.entries()) {
      if (key.is_scalar() && !seen.insert(key.yaml().Scalar()).second)
        throw key.error("duplicate key '" + key.yaml().Scalar() + "' in this mapping");
      reject_duplicate_keys(value);
    }
  } else if (node.is_list()) {
    for (const Node& item : node.list()) reject_duplicate_keys(item);
  }
}

Node parse_yaml(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(SourcePos{name, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
  Node node(root, file, nullptr, SourcePos{name, 1, 1});
  if (!node.is_map()) throw Error(SourcePos{name, 1, 1}, "a chain file must be a mapping with 'version', 'description' and 'ops'");
  reject_duplicate_keys(node);
  return node;
}

std::string read_file(const std::string& path) {
  return read_regular_file(path, kMaxTextFileSize, "chain file");
}

class Loader {
 public:
  explicit Loader(Chain& chain) : chain_(chain) {}

  void load_root(const Node& root, const std::string& include_dir) {
    root.allow_only({"version", "model_types", "description", "include", "pieces", "ops", "expect_converted"},
                    "a chain file");
    check_header(root);
    Node types = root.required("model_types", "a chain file");
    for (const Node& t : types.list("a list of model_type names")) chain_.model_types.push_back(t.str());
    load_includes(root, include_dir);
    load_pieces(root);
    chain_.ops = compiler_.ops(root.required("ops", "a chain file"));
    if (root.has("expect_converted"))
      for (const Node& t : root["expect_converted"].list("a list of key templates"))
        chain_.expect_converted.push_back(compiler_.key(t));
  }

 private:
  void check_header(const Node& root) {
    Node version = root.required("version", root.file() == chain_.file ? "a chain file" : "an included file");
    if (version.integer("a version number") != 1)
      throw version.error("unsupported chain format version " + version.str() + " (this build reads version 1)");
    Node description = root.required("description", "a chain file");
    std::string text = description.str("a description");
    if (root.file() == chain_.file) chain_.description = text;
  }

  void load_includes(const Node& root, const std::string& dir) {
    if (!root.has("include")) return;
    for (const Node& item : root["include"].list("a list of files to include")) {
      fs::path path = fs::path(dir) / item.str("a file path");
      std::error_code ec;
      fs::path canonical = fs::weakly_canonical(path, ec);
      if (!fs::is_regular_file(path)) throw item.error("cannot include '" + path.string() + "': no such file");
      if (!included_.insert(canonical.string()).second) continue;  // already included
      chain_.includes.push_back(path.string());
      Node lib = parse_yaml(read_file(path.string()), path.string());
      lib.allow_only({"version", "description", "include", "pieces"}, "an included file");
      check_header(lib);
      load_includes(lib, path.parent_path().string());
      load_pieces(lib);
    }
  }

  void load_pieces(const Node& root) {
    if (!root.has("pieces")) return;
    for (const auto& [key, value] : root["pieces"].entries("a mapping of piece names to pieces")) {
      PieceDef piece;
      piece.name = key.str("a piece name");
      piece.pos = key.pos();
      value.allow_only({"doc", "params", "ops"}, "piece '" + piece.name + "'");
      if (value.has("doc")) {
        Node doc = value["doc"];
        if (!doc.is_scalar()) throw doc.error("expected a description");
        piece.doc = doc.yaml().Scalar();  // prose: ${param} here is documentation, not substituted
      }
      if (value.has("params"))
        for (const Node& p : value["params"].list("a list of parameter names")) piece.params.push_back(p.str());
      piece.ops = value.required("ops", "piece '" + piece.name + "'");
      piece.ops.list("a list of ops");  // checked now; compiled where it is used
      chain_.pieces.push_back({piece.name, piece.params, piece.doc, piece.pos});
      compiler_.define_piece(std::move(piece));
    }
  }

  Chain& chain_;
  Compiler compiler_;
  std::set<std::string> included_;
};

}  // namespace

std::unique_ptr<Chain> load_chain_string(const std::string& yaml, const std::string& name,
                                         const std::string& include_dir) {
  auto chain = std::make_unique<Chain>();
  chain->file = name;
  Loader(*chain).load_root(parse_yaml(yaml, name), include_dir);
  return chain;
}

std::unique_ptr<Chain> load_chain_file(const std::string& path) {
  return load_chain_string(read_file(path), path, fs::path(path).parent_path().string());
}

}  // namespace chainconv
