// Building an output where nobody sees it half made: a directory beside the target (the same
// filesystem, so the final rename is atomic),
//
//   .NAME.chainconv-XXXXXX/      mode 0700 while it is being written
//       owner                    who is writing it: pid, process start time, boot, host
//       result/                  the output, renamed to the target at the end
//
// The result is made by mkdir, so the target gets the mode a plain mkdir would give it under
// the umask. The owner file lets a later run tell the directory of a killed process (SIGKILL,
// the OOM killer, a power cut) from one still being written.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace chainconv {

// A directory that is removed, with everything in it, unless committed.
class TempDir {
 public:
  // A fresh one beside `target` (in target's parent directory; a trailing slash on `target`
  // is ignored). A target name near NAME_MAX gets a shortened, hashed temporary name.
  static TempDir beside(const std::string& target);
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();

  // Where the output goes (result/).
  const std::string& path() const { return path_; }
  // Renames the result to `target`. With `replace`, an existing `target` is swapped out
  // (atomically where the kernel can) and then removed; without, an existing one is an
  // error. Either way nothing is removed by the destructor afterwards. With `sync`, the
  // result's entries are flushed to disk before and the rename after. `before_rename` runs
  // last before the rename (to cancel, throw): once it returns, the target is committed.
  void commit(const std::string& target, bool replace, bool sync = true,
              const std::function<void()>& before_rename = {});
  // Removes it now.
  void remove();

 private:
  TempDir(std::string outer, std::string path) : outer_(std::move(outer)), path_(std::move(path)) {}
  std::string outer_;  // .NAME.chainconv-XXXXXX
  std::string path_;   // outer_/result
};

// Looks beside `target` for temporary directories of earlier runs for the same target. Those
// whose owner is no longer running (on this host) are removed; the others are left alone.
// Returns one line per directory found, saying which and why.
std::vector<std::string> remove_stale_temp_dirs(const std::string& target);

// `path` without trailing slashes ("out/" -> "out"; "/" stays "/").
std::string without_trailing_slashes(const std::string& path);

}  // namespace chainconv
