// A loaded, compiled chain and how to run it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"

namespace chainconv {

struct PieceInfo {
  std::string name;
  std::vector<std::string> params;
  std::string doc;
  SourcePos pos;
};

struct Chain {
  std::string file;                      // as given when loading
  int version = 1;
  std::vector<std::string> model_types;  // the config.json model_type values it serves
  std::string description;
  std::vector<std::string> includes;     // every file included, directly or not
  std::vector<PieceInfo> pieces;         // every piece defined, in this file or an included one
  OpList ops;
  // Checks only: templates no key may still match after forward (e.g. a leftover per-expert
  // key); chainlint's coverage check warns about untouched keys that do.
  std::vector<KeyTemplate> expect_converted;

  // Converts `dict` in place. Warnings are returned (or thrown, with options.strict).
  std::vector<Warning> run(StateDict& dict, Direction direction, const RunOptions& options = {},
                           Observer* observer = nullptr) const;
  std::vector<Warning> to_prime(StateDict& dict, const RunOptions& options = {}) const {
    return run(dict, Direction::to_prime, options);
  }
  std::vector<Warning> to_hf(StateDict& dict, const RunOptions& options = {}) const {
    return run(dict, Direction::to_hf, options);
  }
};

// Loading parses the YAML (keeping positions), checks the structure, expands pieces and
// includes, and compiles every template. Errors are chainconv::Error with file:line:col.
std::unique_ptr<Chain> load_chain_file(const std::string& path);
// `name` stands in for the file name in messages; includes resolve against `include_dir`.
std::unique_ptr<Chain> load_chain_string(const std::string& yaml, const std::string& name = "<string>",
                                         const std::string& include_dir = ".");

}  // namespace chainconv
