#include "core/self_location.h"

#include <dlfcn.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace chainconv {

std::string self_path() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&self_path), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::error_code ec;
  fs::path path = fs::canonical(info.dli_fname, ec);
  return ec ? std::string() : path.string();
}

bool running_from_build_tree() {
#ifdef CHAINCONV_BUILD_TREE
  const std::string self = self_path();
  if (self.empty()) return false;
  std::error_code ec;
  const fs::path tree = fs::weakly_canonical(CHAINCONV_BUILD_TREE, ec);
  if (ec || tree.empty()) return false;
  // Component-wise: /x/build-tree2 is not inside /x/build-tree.
  const fs::path object(self);
  auto o = object.begin();
  for (auto t = tree.begin(); t != tree.end(); ++t, ++o) {
    if (t->empty()) continue;  // a trailing separator
    if (o == object.end() || *o != *t) return false;
  }
  return true;
#else
  return false;
#endif
}

}  // namespace chainconv
