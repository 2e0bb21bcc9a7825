// The chain registry: config.json's model_type -> chain file. It is discovered from a chains
// directory, where each top-level *.yaml chain names the model types it serves, so adding a
// model is adding a file. Files under subdirectories (common/, layouts/) are shared pieces,
// not chains.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace chainconv {

// The directory chains are read from by default: $CHAINCONV_CHAINS_DIR if set, otherwise
// the chains/ directory this build was configured with (the source tree, or the installed
// share/chainconv/chains).
std::string default_chains_dir();

// model_type -> file, for the top-level *.yaml files of `dir` that list `model_types` (chains,
// or layouts): the one scan of a directory of model files. `what` names the files in errors
// ("chain", "layout"). Throws Error for a file whose header is malformed or two files
// claiming one model type (naming both).
std::map<std::string, std::string> scan_model_types(const std::string& dir,
                                                    const std::string& what);

class ChainRegistry {
 public:
  // Scans `dir`; throws Error if it cannot be read, if a chain's header is malformed, or if
  // two chains claim the same model type (naming both files).
  static ChainRegistry scan(const std::string& dir = default_chains_dir());

  // The chain file for `model_type`; throws Error listing the known types if there is none.
  const std::string& chain_for(const std::string& model_type) const;
  bool serves(const std::string& model_type) const { return by_type_.count(model_type) > 0; }
  const std::map<std::string, std::string>& model_types() const { return by_type_; }
  std::vector<std::string> chain_files() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::map<std::string, std::string> by_type_;
};

}  // namespace chainconv
