#include "registry/chain_registry.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/read_file.h"
#include "core/self_location.h"
#include "core/text.h"

namespace fs = std::filesystem;

namespace chainconv {

// An installed program or library finds the chains installed beside it, wherever its prefix
// is: CHAINCONV_CHAINS_FROM_LIBDIR / _FROM_BINDIR are the paths from the library's and the
// executable's directories to them (lib/ and bin/ need not be at the same depth).
static std::string chains_dir_beside_self() {
  const std::string self = self_path();
  if (self.empty()) return {};
  const fs::path dir = fs::path(self).parent_path();
  for (const char* relative : {
#ifdef CHAINCONV_CHAINS_FROM_LIBDIR
           CHAINCONV_CHAINS_FROM_LIBDIR,
#endif
#ifdef CHAINCONV_CHAINS_FROM_BINDIR
           CHAINCONV_CHAINS_FROM_BINDIR,
#endif
           ""}) {
    if (!*relative) continue;
    std::error_code ec;
    fs::path chains = (dir / relative).lexically_normal();
    if (fs::is_directory(chains, ec)) return chains.string();
  }
  return {};
}

std::string default_chains_dir() {
  if (const char* env = std::getenv("CHAINCONV_CHAINS_DIR"); env && *env) return env;
  if (std::string beside = chains_dir_beside_self(); !beside.empty()) return beside;
    // A build-tree default (the source tree's chains/) belongs to the build tree: a copy of the
    // binary elsewhere would otherwise read whatever that tree holds by then. A default
    // configured elsewhere (-DCHAINCONV_CHAINS_DIR=/opt/...) applies wherever the program is.
#ifdef CHAINCONV_DEFAULT_CHAINS_DIR_IN_TREE
  if (!running_from_build_tree()) return {};
#endif
  return CHAINCONV_DEFAULT_CHAINS_DIR;
}

std::vector<std::string> chains_search_path(const std::vector<std::string>& extra) {
  std::vector<std::string> dirs;
  for (const std::string& dir : extra)
    if (!dir.empty()) dirs.push_back(dir);
  if (std::string fallback = default_chains_dir(); !fallback.empty()) dirs.push_back(fallback);
  return dirs;
}

std::string searched_dirs(const std::vector<std::string>& dirs) {
  if (dirs.empty()) {
    const std::string self = self_path();
    return "no chains directory to search: CHAINCONV_CHAINS_DIR is not set and none is "
           "installed beside " +
           (self.empty() ? std::string("this program") : self);
  }
  std::vector<std::string> quoted;
  for (const std::string& dir : dirs) quoted.push_back("'" + dir + "'");
  return "searched " + join(quoted);
}

std::map<std::string, std::string> scan_model_types(const std::string& dir, const std::string& what,
                                                    const TargetFilter& filter) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(what + "s directory '" + dir + "' does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      files.push_back(entry.path());
  if (ec) throw Error("cannot read " + what + "s directory '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> by_type;
  for (const fs::path& file : files) {
    YAML::Node root;
    try {
      root = YAML::Load(read_regular_file(file.string(), kMaxTextFileSize, what + " file"));
    } catch (const YAML::Exception& e) {
      throw Error(Position{file.string(), e.mark.line + 1, e.mark.column + 1},
                  "YAML syntax error: " + e.msg);
    }
    const YAML::Node target = root.IsMap() ? root["target"] : YAML::Node();
    const std::string side = target && target.IsScalar() ? target.Scalar() : filter.absent_means;
    if (side != filter.target) continue;
    YAML::Node types = root.IsMap() ? root["model_types"] : YAML::Node();
    if (!types || !types.IsSequence())
      throw Error(Position{file.string(), 1, 1},
                  "a " + what + " file needs 'model_types', a list of model_type names");
    for (const auto& type : types) {
      if (!type.IsScalar())
        throw Error(Position{file.string(), type.Mark().line + 1, type.Mark().column + 1},
                    "expected a model_type name");
      std::string name = type.Scalar();
      auto [it, inserted] = by_type.emplace(name, file.string());
      if (!inserted)
        throw Error(Position{file.string(), type.Mark().line + 1, type.Mark().column + 1},
                    "model type '" + name + "' is already served by " + it->second);
    }
  }
  return by_type;
}

std::map<std::string, std::string> scan_model_types(const std::vector<std::string>& dirs,
                                                    const std::string& what, bool missing_ok,
                                                    const TargetFilter& filter) {
  std::map<std::string, std::string> by_type;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (missing_ok && !fs::exists(dir, ec)) continue;
    for (auto& [type, file] : scan_model_types(dir, what, filter))
      by_type.emplace(type, std::move(file));
  }
  return by_type;
}

ChainRegistry ChainRegistry::scan(const std::vector<std::string>& dirs, const std::string& target) {
  ChainRegistry registry;
  registry.dirs_ = dirs;
  registry.target_ = target;
  registry.by_type_ = scan_model_types(dirs, "chain", /*missing_ok=*/false, {target, "prime"});
  return registry;
}

ChainRegistry ChainRegistry::scan() { return scan(chains_search_path()); }

ChainRegistry ChainRegistry::scan(const std::string& dir) {
  return scan(std::vector<std::string>{dir});
}

const std::string& ChainRegistry::chain_for(const std::string& model_type) const {
  auto it = by_type_.find(model_type);
  if (it != by_type_.end()) return it->second;
  throw NotFoundError(NotFoundError::Kind::chain, not_found(model_type));
}

std::string ChainRegistry::not_found(const std::string& model_type) const {
  const std::string to = target_ == "prime" ? "" : " for target '" + target_ + "'";
  return "no chain serves model_type '" + model_type + "'" + to + " (" + searched_dirs(dirs_) +
         "; known: " + (by_type_.empty() ? std::string("none") : joined_keys(by_type_)) + ")";
}

std::vector<std::string> ChainRegistry::chain_files() const {
  std::set<std::string> files;
  for (const auto& [type, file] : by_type_) files.insert(file);
  return {files.begin(), files.end()};
}

}  // namespace chainconv
