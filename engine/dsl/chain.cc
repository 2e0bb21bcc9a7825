#include "dsl/chain.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "core/read_file.h"
#include "program/lower_by_layer.h"
#include "registry/chain_registry.h"

namespace fs = std::filesystem;

namespace chainconv {
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

// A chain is data, not a graph: a YAML alias that reuses a mapping or a list would let a
// small file stand for an exponentially large (or cyclic) one. Every mapping and list must
// appear once; they are told apart by where they start.
void reject_reused_nodes(const YAML::Node& root, const std::string& name) {
  std::set<std::pair<int, int>> seen;
  std::vector<YAML::Node> pending = {root};
  while (!pending.empty()) {
    YAML::Node node = pending.back();
    pending.pop_back();
    if (!node.IsMap() && !node.IsSequence()) continue;
    const YAML::Mark mark = node.Mark();
    if (!seen.emplace(mark.line, mark.column).second)
      throw CheckError(Position{name, mark.line + 1, mark.column + 1}, "syntax",
                       "this node is used again through a YAML alias; chain files take no "
                       "aliases of mappings or lists (write a piece and 'use' it)");
    if (node.IsMap()) {
      for (const auto& kv : node) {
        pending.push_back(kv.first);
        pending.push_back(kv.second);
      }
    } else {
      for (const auto& item : node) pending.push_back(item);
    }
  }
}

// The line (1-based) where the text's second YAML document starts, or 0.
int second_document_line(const std::string& text) {
  int line = 1;
  bool content = false;
  for (size_t i = 0; i < text.size(); ++line) {
    size_t end = text.find('\n', i);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + i, end - i);
    const bool marker = l.substr(0, 3) == "---" && (l.size() == 3 || l[3] == ' ' || l[3] == '\r');
    if (marker && content) return line;
    if (!marker && !l.empty() && l[0] != '#' && l[0] != '%') content = true;
    i = end + 1;
  }
  return 0;
}

// Parser events, dropped: only whether a document is there matters.
class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

Node parse_yaml(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  YAML::Node root;
  bool second_document = false;
  try {
    root = YAML::Load(text);
    // Whether a second document follows, asked of the parser twice at most: YAML::LoadAll
    // can loop forever on some malformed input (found by the chain_loader fuzzer).
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    IgnoreEvents ignore;
    second_document = parser.HandleNextDocument(ignore) && parser.HandleNextDocument(ignore);
  } catch (const YAML::Exception& e) {
    throw CheckError(Position{name, e.mark.line + 1, e.mark.column + 1}, "syntax",
                     "YAML syntax error: " + e.msg);
  }
  if (second_document) {
    const int line = second_document_line(text);
    throw CheckError(Position{name, line > 0 ? line : 1, 1}, "syntax",
                     "a chain file is one YAML document; another one starts here");
  }
  reject_reused_nodes(root, name);
  return Node(root, file, nullptr, Position{name, 1, 1});
}

std::string read_file(const std::string& path) {
  return read_regular_file(path, kMaxTextFileSize, "chain file");
}

class SourceReader {
 public:
  SourceReader(ChainSources& out, Diagnostics* diagnostics)
      : out_(out), compiler_(diagnostics), chains_root_(default_chains_dir()) {}

  void read_root(const std::string& text, const std::string& name, const std::string& dir) {
    included_.insert(fs::weakly_canonical(name, ec_).string());
    Node root;
    try {
      root = parse_yaml(text, name);
    } catch (const Error& e) {
      return compiler_.absorb(e);  // nothing to compile: `files` stays empty
    }
    out_.is_chain = !root.is_map() || root.has("ops") || root.has("model_types");
    read_includes(root, dir);
    out_.files.push_back({name, root});
  }

 private:
  void read_includes(const Node& root, const std::string& dir) {
    if (!root.is_map() || !root.has("include")) return;
    std::vector<Node> items;
    try {
      items = root["include"].list("a list of files to include");
    } catch (const Error& e) {
      return compiler_.absorb(e);
    }
    for (const Node& item : items) {
      try {
        read_include(item, dir);
      } catch (const CheckError& e) {
        compiler_.absorb(e);  // a problem of the chain; a file that cannot be read is not
      }
    }
  }

  // Includes resolve against the including file's directory, then the chains directory, and
  // must stay inside the one they resolve in: a chain cannot make the tools read any file.
  // A missing include is a problem of the chain (a finding); one that exists but cannot be
  // read (not a regular file, too large) makes the chain unusable: an Error naming it.
  void read_include(const Node& item, const std::string& dir) {
    std::string name;
    try {
      name = item.str("a file path");
    } catch (const CheckError&) {
      throw;
    } catch (const Error& e) {
      throw CheckError(e.pos(), "schema", e.message());
    }
    const fs::path relative(name);
    if (name.empty() || relative.is_absolute())
      throw CheckError(item.pos(), "reference",
                       "cannot include '" + name +
                           "': an include is a path relative to the chain's directory or the "
                           "chains directory");
    for (const fs::path& part : relative)
      if (part.string().size() > 255)
        throw CheckError(item.pos(), "reference",
                         "cannot include '" + name.substr(0, 64) + "...': a name is too long");
    std::vector<std::string> bases = {dir};
    if (!chains_root_.empty() &&
        fs::weakly_canonical(chains_root_, ec_) != fs::weakly_canonical(dir, ec_))
      bases.push_back(chains_root_);
    for (const std::string& base : bases) {
      const fs::path path = fs::path(base) / relative;
      if (!fs::exists(path, ec_)) continue;
      const fs::path inside = fs::weakly_canonical(base, ec_);
      const fs::path resolved = fs::weakly_canonical(path, ec_);
      const auto mismatch =
          std::mismatch(inside.begin(), inside.end(), resolved.begin(), resolved.end());
      if (ec_ || mismatch.first != inside.end())
        throw CheckError(item.pos(), "reference",
                         "cannot include '" + name + "': it resolves outside " + base);
      if (!included_.insert(resolved.string()).second) return;
      const std::string text = read_file(path.string());
      Node lib = parse_yaml(text, path.string());
      read_includes(lib, path.parent_path().string());
      out_.files.push_back({path.string(), lib});
      return;
    }
    throw CheckError(item.pos(), "reference",
                     "cannot include '" + (fs::path(dir) / relative).string() + "': no such file" +
                         (bases.size() > 1 ? " (nor in the chains directory)" : ""));
  }

  ChainSources& out_;
  Compiler compiler_;  // only for its way of reporting
  std::string chains_root_;
  std::set<std::string> included_;
  std::error_code ec_;
};

// Compiles a chain's files: the header, the pieces of every file (includes first), the ops.
class Loader {
 public:
  Loader(Chain& chain, Diagnostics* diagnostics) : chain_(chain), compiler_(diagnostics) {
    compiler_.use_params(&chain_.params);
  }

  void load(const ChainSources& sources) {
    for (const SourceFile& file : sources.files) {
      guarded([&] { reject_duplicate_keys(file.root); });
      const bool root = &file == &sources.root();
      if (!file.root.is_map()) {
        compiler_.report(Position{file.path, 1, 1}, "schema",
                         "a chain file must be a mapping with 'version', 'description' and 'ops'");
        continue;
      }
      if (root) {
        if (sources.is_chain) {
          load_chain(file.root);
        } else {
          guarded([&] {
            file.root.allow_only({"version", "description", "include", "pieces"},
                                 "an included file");
          });
          guarded([&] { check_header(file.root, false); });
          load_pieces(file.root);
        }
      } else {
        chain_.includes.push_back(file.path);
        guarded([&] {
          file.root.allow_only({"version", "description", "include", "pieces"}, "an included file");
        });
        guarded([&] { check_header(file.root, false); });
        load_pieces(file.root);
      }
    }
  }

 private:
  template <class Body>
  void guarded(Body&& body) {
    try {
      body();
    } catch (const Error& e) {
      compiler_.absorb(e);
    }
  }

  void load_chain(const Node& root) {
    guarded([&] {
      root.allow_only({"version", "model_types", "target", "description", "include", "params",
                       "pieces", "ops", "expect_converted"},
                      "a chain file");
    });
    if (root.has("target")) guarded([&] { chain_.target = root["target"].str("a target name"); });
    load_params(root);
    guarded([&] { check_header(root, true); });
    guarded([&] {
      Node types = root.required("model_types", "a chain file");
      for (const Node& t : types.list("a list of model_type names"))
        chain_.model_types.push_back(t.str());
    });
    load_pieces(root);
    guarded([&] { chain_.ops = compiler_.ops(root.required("ops", "a chain file")); });
    if (root.has("expect_converted"))
      guarded([&] {
        for (const Node& t : root["expect_converted"].list("a list of key templates"))
          chain_.expect_converted.push_back(compiler_.key(t));
      });
  }

  // Before any op compiles: ops and pieces (wherever defined) read the chain's parameters.
  void load_params(const Node& root) {
    if (!root.has("params")) return;
    std::vector<std::pair<Node, Node>> entries;
    guarded(
        [&] { entries = root["params"].entries("a mapping of parameter names to parameters"); });
    for (const auto& [name, body] : entries)
      guarded([&, &name = name, &body = body] { parse_param_decl(name, body, chain_.params); });
  }

  void check_header(const Node& root, bool is_chain) {
    Node version = root.required("version", is_chain ? "a chain file" : "an included file");
    if (version.integer("a version number") != 1)
      throw version.error("unsupported chain format version " + version.str() +
                          " (this build reads version 1)");
    Node description = root.required("description", "a chain file");
    std::string text = description.str("a description");
    if (is_chain) chain_.description = text;
  }

  void load_pieces(const Node& root) {
    if (!root.has("pieces")) return;
    std::vector<std::pair<Node, Node>> entries;
    guarded([&] { entries = root["pieces"].entries("a mapping of piece names to pieces"); });
    for (const auto& [key, value] : entries) {
      guarded([&, &key = key, &value = value] {
        PieceDef piece;
        piece.name = key.str("a piece name");
        piece.pos = key.pos();
        value.allow_only({"doc", "params", "ops"}, "piece '" + piece.name + "'");
        if (value.has("doc")) {
          Node doc = value["doc"];
          if (!doc.is_scalar()) throw doc.error("expected a description");
          piece.doc =
              doc.yaml().Scalar();  // prose: ${param} here is documentation, not substituted
        }
        if (value.has("params"))
          for (const Node& p : value["params"].list("a list of parameter names"))
            piece.params.push_back(p.str());
        piece.ops = value.required("ops", "piece '" + piece.name + "'");
        piece.ops.list("a list of ops");  // checked now; compiled where it is used
        chain_.pieces.push_back({piece.name, piece.params, piece.doc, piece.pos});
        compiler_.define_piece(std::move(piece));
      });
    }
  }

  Chain& chain_;
  Compiler compiler_;
};

}  // namespace

ChainSources parse_chain_sources(const std::string& yaml, const std::string& name,
                                 const std::string& include_dir, Diagnostics* diagnostics) {
  ChainSources sources;
  SourceReader(sources, diagnostics).read_root(yaml, name, include_dir);
  return sources;
}

std::unique_ptr<Chain> compile_chain(const ChainSources& sources, Diagnostics* diagnostics) {
  auto chain = std::make_unique<Chain>();
  if (sources.files.empty()) return chain;  // the root did not parse (recorded)
  chain->file = sources.root().path;
  Loader(*chain, diagnostics).load(sources);
  for (Direction d : {Direction::to_prime, Direction::to_hf})
    chain->layer_separable[static_cast<int>(d)] = layer_separable(chain->ops, d);
  return chain;
}

std::unique_ptr<Chain> load_chain_string(const std::string& yaml, const std::string& name,
                                         const std::string& include_dir) {
  return compile_chain(parse_chain_sources(yaml, name, include_dir, nullptr), nullptr);
}

std::unique_ptr<Chain> load_chain_file(const std::string& path) {
  return load_chain_string(read_file(path), path, fs::path(path).parent_path().string());
}

}  // namespace chainconv
