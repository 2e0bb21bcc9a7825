#include "io/compute.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/error.h"
#include "core/self_location.h"
#include "core/text.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

constexpr const char* kPluginName = "chainconv_compute.so";

// Where the plugin may be, most specific first.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("CHAINCONV_COMPUTE_PLUGIN"); env && *env) out.push_back(env);
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&compute_backend), &info) != 0 && info.dli_fname) {
    std::error_code ec;
    fs::path self = fs::canonical(info.dli_fname, ec);
    if (!ec) {
      out.push_back((self.parent_path() / kPluginName).string());
      out.push_back((self.parent_path() / "chainconv" / kPluginName).string());  // lib/
#ifdef CHAINCONV_PLUGIN_FROM_BINDIR
      out.push_back((self.parent_path() / CHAINCONV_PLUGIN_FROM_BINDIR / kPluginName)
                        .lexically_normal()
                        .string());
#endif
    }
  }
#ifdef CHAINCONV_BUILD_PLUGIN
  // The build tree's plugin is for the build tree's programs: a copy elsewhere would load
  // whatever that tree holds by then.
  if (running_from_build_tree()) out.push_back(CHAINCONV_BUILD_PLUGIN);
#endif
  return out;
}

const ComputeBackend* load() {
  std::vector<std::string> tried;
  std::string last_error;
  for (const std::string& path : candidates()) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      tried.push_back(path);
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      throw Error("cannot load the compute plugin " + path + ": " + (why ? why : "unknown error"));
    }
    auto entry = reinterpret_cast<ComputeBackendEntry>(dlsym(handle, kComputeBackendSymbol));
    if (!entry) throw Error(path + " is not a chainconv compute plugin");
    return entry();
  }
  throw Error("this conversion computes values, which needs the compute plugin " +
              std::string(kPluginName) + " (LibTorch); not found in: " + join(tried) +
              " (set CHAINCONV_COMPUTE_PLUGIN to its path)");
}

}  // namespace

const ComputeBackend& compute_backend() {
  static std::once_flag once;
  static const ComputeBackend* backend = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    try {
      backend = load();
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (!backend) throw Error(failure);
  return *backend;
}

}  // namespace chainconv
