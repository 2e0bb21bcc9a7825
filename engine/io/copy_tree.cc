#include "io/copy_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/fs_util.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

bool inside(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

const char* special_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file, directory or symlink";
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);  // best effort, as for the output's own directory
  ::close(fd);
}

class TreeCopier {
 public:
  TreeCopier(const fs::path& root, const CopyTreeOptions& options, CopyTreeReport& report)
      : root_(fs::weakly_canonical(fs::absolute(root))), options_(options), report_(report) {}

  // Copies one entry; returns the number of regular files copied.
  size_t copy(const fs::path& from, const fs::path& to, const std::string& name) {
    if (options_.check) options_.check();
    struct stat st {};
    if (::lstat(from.c_str(), &st) != 0)
      throw Error(from.string() + ": cannot stat: " + std::strerror(errno));
    if (S_ISLNK(st.st_mode)) {
      std::string target = link(from, to);
      if (name.find('/') == std::string::npos)
        report_.copied.push_back(name + " -> " + target + " (a symlink)");
      return 0;
    }
    if (S_ISREG(st.st_mode)) {
      copy_file_contents(from.string(), to.string(), options_.sync, options_.check);
      if (name.find('/') == std::string::npos) report_.copied.push_back(name);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      report_.skipped.push_back(name + " (" + special_kind(st.st_mode) + ")");
      return 0;
    }
    // Written as 0700 and given the source's bits once full, so that a read-only source
    // directory can still be filled.
    if (::mkdir(to.c_str(), 0700) != 0)
      throw Error(to.string() + ": cannot create: " + std::strerror(errno));
    std::vector<fs::path> entries;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(from, ec))
      entries.push_back(e.path());
    if (ec) throw Error(from.string() + ": cannot list: " + ec.message());
    std::sort(entries.begin(), entries.end());
    size_t files = 0;
    for (const fs::path& e : entries)
      files += copy(e, to / e.filename(), name + "/" + e.filename().string());
    if (::chmod(to.c_str(), st.st_mode & 0777) != 0)
      throw Error(to.string() + ": cannot set its mode: " + std::strerror(errno));
    if (options_.sync) sync_dir(to);
    if (name.find('/') == std::string::npos)
      report_.copied.push_back(name + "/ (" + std::to_string(files) + " file" +
                               (files == 1 ? "" : "s") + ")");
    return files;
  }

 private:
  // Recreates the symlink `from` at `to`; returns what the new link points at.
  std::string link(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    const fs::path text = fs::read_symlink(from, ec);
    if (ec) throw Error(from.string() + ": cannot read the symlink: " + ec.message());
    fs::path made = text;
    const fs::path resolved = fs::weakly_canonical(from.parent_path() / text, ec);
    const bool resolves = !ec && fs::exists(fs::symlink_status(resolved, ec));
    if (resolves && (text.is_absolute() || !inside(resolved, root_))) made = resolved;
    if (::symlink(made.c_str(), to.c_str()) != 0)
      throw Error(to.string() + ": cannot create the symlink: " + std::strerror(errno));
    return made.string();
  }

  fs::path root_;
  const CopyTreeOptions& options_;
  CopyTreeReport& report_;
};

}  // namespace

void copy_tree(const fs::path& from, const fs::path& to, const fs::path& root,
               const CopyTreeOptions& options, CopyTreeReport& report) {
  TreeCopier(root, options, report).copy(from, to, from.filename().string());
}

}  // namespace chainconv
