// A chain: loaded from YAML (with its includes), compiled into ops. No LibTorch: a chain
// lowers to a step program (program/lower.h), which the executors play.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "ops/op.h"

namespace chainconv {

struct PieceInfo {
  std::string name;
  std::vector<std::string> params;
  std::string doc;
  Position pos;
};

struct Chain {
  std::string file;  // as given when loading
  int version = 1;
  std::vector<std::string> model_types;  // the config.json model_type values it serves
  // The layout forward converts to (`target:`): "prime" unless the chain names another,
  // e.g. "torchtitan"; the registry finds a chain by (model_type, target).
  std::string target = "prime";
  std::string description;
  std::vector<std::string> includes;  // every file included, directly or not
  std::vector<PieceInfo> pieces;      // every piece defined, in this file or an included one
  // Its parameters (`params:`) and the config values it reads; bound per lowering from
  // Options::params and Options::config (ops/params.h).
  ParamTable params;
  OpList ops;
  // Checks only: templates no key may still match after forward (e.g. a leftover per-expert
  // key); chainlint's coverage check warns about untouched keys that do.
  std::vector<KeyTemplate> expect_converted;
  // Whether a key set may be lowered a layer at a time, per Direction (to_prime, to_hf):
  // program/lower_by_layer.h, decided once when the chain compiles.
  bool layer_separable[2] = {false, false};
};

// One parsed file of a chain: the chain itself or a file it includes.
struct SourceFile {
  std::string path;  // as it appears in positions
  Node root;
};

// A chain's files, parsed (YAML syntax and includes resolved), not yet compiled.
struct ChainSources {
  std::vector<SourceFile> files;  // included files in the order their pieces are defined
                                  // (an include's includes first), the chain itself last
  // False for a file with neither `ops` nor `model_types`: a library of pieces to include.
  bool is_chain = true;
  const SourceFile& root() const { return files.back(); }
};

// Parses `yaml` (named `name` in positions) and every file it includes, resolved against
// `include_dir`. Without diagnostics the first problem is thrown as an Error; with them,
// syntax errors ("syntax") and includes that cannot be read ("reference") are recorded and
// parsing goes on without them.
ChainSources parse_chain_sources(const std::string& yaml, const std::string& name,
                                 const std::string& include_dir, Diagnostics* diagnostics);

// Compiles parsed sources. Without diagnostics the first problem is thrown as an Error;
// with them every problem is recorded (each op that fails is left out) and a chain comes
// back, to be checked but never run unless no error was recorded.
std::unique_ptr<Chain> compile_chain(const ChainSources& sources, Diagnostics* diagnostics);

// Parse and compile; errors are Errors with file:line:col.
std::unique_ptr<Chain> load_chain_file(const std::string& path);
std::unique_ptr<Chain> load_chain_string(const std::string& yaml,
                                         const std::string& name = "<string>",
                                         const std::string& include_dir = ".");

}  // namespace chainconv
