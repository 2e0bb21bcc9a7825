// The chain registry: config.json's model_type -> chain file. It is discovered from a search
// path of chains directories, where each top-level *.yaml chain names the model types it
// serves, so adding a model is adding a file. Files under subdirectories (common/, layouts/)
// are shared pieces and layouts, not chains.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace chainconv {

// The directory chains are read from by default: $CHAINCONV_CHAINS_DIR if set; otherwise
// share/chainconv/chains installed beside the executable or library running this code;
// otherwise, for a program still in the build tree it was built in, the chains/ directory
// it was configured with (the source tree's). "" when none of these applies (a binary copied
// out of its build tree without its chains).
std::string default_chains_dir();

// Where chains and layouts are looked up: `extra` in order, then default_chains_dir() when
// there is one. The first directory that serves a model type wins.
std::vector<std::string> chains_search_path(const std::vector<std::string>& extra = {});

// For messages: "searched 'a', 'b'", or when `dirs` is empty, that there was no directory to
// search and why.
std::string searched_dirs(const std::vector<std::string>& dirs);

// Something looked up by model type in the chains directories and not found there: the
// message lists the directories searched (and what they hold). Tools catch it to add advice
// on their own options.
class NotFoundError : public Error {
 public:
  enum class Kind { chain, layout, config };
  NotFoundError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Which files of a scan count: those whose `target` field (the side they describe or convert
// to) is `target`, a file without one counting as `absent_means`. Chains convert to a
// target ("prime" unless they say); layouts describe HF unless they name a target side.
struct TargetFilter {
  std::string target;
  std::string absent_means;
};

// model_type -> file, for the top-level *.yaml files of `dir` that list `model_types` (chains,
// or layouts) and pass `filter`: the one scan of a directory of model files. `what` names
// the files in errors ("chain", "layout"). Throws Error for a directory that does not exist, a
// file whose header is malformed, or two files of `dir` claiming one model type for one
// target (naming both).
std::map<std::string, std::string> scan_model_types(const std::string& dir, const std::string& what,
                                                    const TargetFilter& filter = {});

// The same over a search path: the first directory that serves a model type wins (a user's
// chain overrides the shipped one); within one directory a model type claimed twice is still
// an error. With `missing_ok` a directory that does not exist is skipped (a user's chains
// directory without layouts/); otherwise it is an error.
std::map<std::string, std::string> scan_model_types(const std::vector<std::string>& dirs,
                                                    const std::string& what,
                                                    bool missing_ok = false,
                                                    const TargetFilter& filter = {});

class ChainRegistry {
 public:
  // Scans `dirs` in order (see scan_model_types) for the chains converting to `target`
  // (their `target:`, "prime" when absent); throws Error if one cannot be read, if a chain's
  // header is malformed, or if two chains of one directory claim the same model type and
  // target.
  static ChainRegistry scan(const std::vector<std::string>& dirs,
                            const std::string& target = "prime");
  // The default search path (chains_search_path()).
  static ChainRegistry scan();
  // One directory alone.
  static ChainRegistry scan(const std::string& dir);

  // The chain file for `model_type`; throws NotFoundError listing the directories searched
  // and the known types if there is none.
  const std::string& chain_for(const std::string& model_type) const;
  // The message chain_for throws with.
  std::string not_found(const std::string& model_type) const;
  bool serves(const std::string& model_type) const { return by_type_.count(model_type) > 0; }
  const std::map<std::string, std::string>& model_types() const { return by_type_; }
  std::vector<std::string> chain_files() const;
  const std::vector<std::string>& dirs() const { return dirs_; }
  const std::string& target() const { return target_; }

 private:
  std::vector<std::string> dirs_;
  std::string target_ = "prime";
  std::map<std::string, std::string> by_type_;
};

}  // namespace chainconv
