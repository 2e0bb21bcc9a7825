#include "registry/chain_registry.h"

#include <dlfcn.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/read_file.h"

namespace fs = std::filesystem;

namespace chainconv {

// An installed libchainconv.so finds the chains installed beside it, wherever its prefix is:
// CHAINCONV_CHAINS_BESIDE_LIBRARY is the path from the library's directory to them. In the
// build tree nothing is there and the configured default applies.
static std::string chains_dir_beside_library() {
#ifdef CHAINCONV_CHAINS_BESIDE_LIBRARY
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&default_chains_dir), &info) == 0 || info.dli_fname == nullptr) return {};
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

ChainRegistry ChainRegistry::scan(const std::string& dir) {
  ChainRegistry registry;
  registry.dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("chains directory '" + dir + "' does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  if (ec) throw Error("cannot read chains directory '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    YAML::Node root;
    try {
      root = YAML::Load(read_regular_file(file.string(), kMaxTextFileSize, "chain file"));
    } catch (const YAML::Exception& e) {
      throw Error(SourcePos{file.string(), e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    }
    YAML::Node types = root["model_types"];
    if (!types || !types.IsSequence())
      throw Error(SourcePos{file.string(), 1, 1}, "a chain file needs 'model_types', a list of model_type names");
    for (const auto& type : types) {
      std::string name = type.as<std::string>();
      auto [it, inserted] = registry.by_type_.emplace(name, file.string());
      if (!inserted)
        throw Error(SourcePos{file.string(), type.Mark().line + 1, type.Mark().column + 1},
                    "model type '" + name + "' is already served by " + it->second);
    }
  }
  return registry;
}

const std::string& ChainRegistry::chain_for(const std::string& model_type) const {
  auto it = by_type_.find(model_type);
  if (it != by_type_.end()) return it->second;
  std::string known;
  for (const auto& [type, file] : by_type_) known += (known.empty() ? "" : ", ") + type;
  throw Error("no chain for model_type '" + model_type + "' in " + dir_ + " (known: " + known +
              "); pass --chain FILE or add a chain that lists it under model_types");
}

std::vector<std::string> ChainRegistry::chain_files() const {
  std::set<std::string> files;
  for (const auto& [type, file] : by_type_) files.insert(file);
  return {files.begin(), files.end()};
}

}  // namespace chainconv
