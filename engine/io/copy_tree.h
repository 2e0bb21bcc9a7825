// Copying the files of a checkpoint directory that are not converted (config, tokenizer,
// an original/ folder, ...) as `cp -r` does: directories recursively, permission bits kept,
// and symlinks copied as symlinks, never followed. A link whose target lies outside the
// source tree is made to point at the same file by its absolute path, so no byte from
// outside the source is ever copied into the output; a relative link within the tree is kept
// as it is (it resolves the same way in the copy).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace chainconv {

struct CopyTreeOptions {
  bool sync = true;             // flush every copied file and directory to disk
  std::function<void()> check;  // runs between files and chunks (to cancel, throw)
};

struct CopyTreeReport {
  std::vector<std::string> copied;   // "name", "dir/ (N files)", "link -> target (a symlink)"
  std::vector<std::string> skipped;  // "dir/fifo (a FIFO)", with why
};

// Copies `from` (a file, a directory tree or a symlink, not followed) to `to`, which must
// not exist. `root` is the source directory `from` lies in (relative names in the report
// are relative to it; links are judged against it). Throws Error naming the file on failure.
void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to,
               const std::filesystem::path& root, const CopyTreeOptions& options,
               CopyTreeReport& report);

}  // namespace chainconv
