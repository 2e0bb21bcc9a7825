// Filesystem steps that make an output appear atomically: build it in a temporary
// directory beside its destination (same filesystem), then rename it into place.
#pragma once

#include <string>

namespace chainconv {

// A directory that is removed, with everything in it, unless committed.
class TempDir {
 public:
  // A fresh directory next to `target` (".NAME.chainconv-XXXXXX" in target's parent).
  static TempDir beside(const std::string& target);
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // Renames the directory to `target`. With `replace`, an existing `target` is swapped out
  // (atomically where the kernel can) and then removed; without, an existing one is an
  // error. Either way the directory is no longer removed by the destructor. With `sync`,
  // the directory's entries are flushed to disk first.
  void commit(const std::string& target, bool replace, bool sync = true);
  // Removes it now.
  void remove();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Copies a regular file (in the kernel when it can); the destination must not exist. With
// `sync`, flushes it to disk.
void copy_file_contents(const std::string& from, const std::string& to, bool sync = true);

// Throws Error when `dst` may not be written for input `src`: it exists (unless `force`),
// it is `src` or lies inside it, `src` lies inside it, or its parent directory is missing.
// An empty `src` (an output made from nothing on disk) skips the checks against it.
void check_destination(const std::string& src, const std::string& dst, bool force);

}  // namespace chainconv
