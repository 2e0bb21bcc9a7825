#include "registry/chain_registry.h"

#include <dlfcn.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/read_file.h"
#include "core/text.h"

namespace fs = std::filesystem;

namespace chainconv {

// An installed libchainconv.so finds the chains installed beside it, wherever its prefix is:
// CHAINCONV_CHAINS_BESIDE_LIBRARY is the path from the library's directory to them. In the
// build tree nothing is there and the configured default applies.
static std::string chains_dir_beside_library() {
#ifdef CHAINCONV_CHAINS_BESIDE_LIBRARY
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&default_chains_dir), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::error_code ec;
  fs::path library = fs::canonical(info.dli_fname, ec);
  if (ec) return {};
  fs::path dir = (library.parent_path() / CHAINCONV_CHAINS_BESIDE_LIBRARY).lexically_normal();
  if (fs::is_directory(dir, ec)) return dir.string();
#endif
  return {};
}

std::string default_chains_dir() {
  if (const char* env = std::getenv("CHAINCONV_CHAINS_DIR"); env && *env) return env;
  if (std::string beside = chains_dir_beside_library(); !beside.empty()) return beside;
  return CHAINCONV_DEFAULT_CHAINS_DIR;
}

std::map<std::string, std::string> scan_model_types(const std::string& dir,
                                                    const std::string& what) {
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

ChainRegistry ChainRegistry::scan(const std::string& dir) {
  ChainRegistry registry;
  registry.dir_ = dir;
  registry.by_type_ = scan_model_types(dir, "chain");
  return registry;
}

const std::string& ChainRegistry::chain_for(const std::string& model_type) const {
  auto it = by_type_.find(model_type);
  if (it != by_type_.end()) return it->second;
  throw Error("no chain for model_type '" + model_type + "' in " + dir_ +
              " (known: " + joined_keys(by_type_) +
              "); pass --chain FILE or add a chain that lists it under model_types");
}

std::vector<std::string> ChainRegistry::chain_files() const {
  std::set<std::string> files;
  for (const auto& [type, file] : by_type_) files.insert(file);
  return {files.begin(), files.end()};
}

}  // namespace chainconv
