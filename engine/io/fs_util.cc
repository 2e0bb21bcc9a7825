#include "io/fs_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace fs = std::filesystem;

namespace chainconv {

TempDir TempDir::beside(const std::string& target) {
  fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  if (!t.has_filename()) t = t.parent_path();
  std::string pattern =
      (t.parent_path() / ("." + t.filename().string() + ".chainconv-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data()))
    throw Error(t.parent_path().string() +
                ": cannot create a temporary directory: " + std::strerror(errno));
  return TempDir(buffer.data());
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir::~TempDir() { remove(); }

void TempDir::remove() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort while unwinding
  path_.clear();
}

void TempDir::commit(const std::string& target, bool replace, bool sync) {
  // Make the contents durable before they become visible under the final name.
  int dfd = sync ? ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (dfd >= 0) {
    fsync(dfd);
    ::close(dfd);
  }
  std::error_code ec;
  const bool exists = fs::symlink_status(target, ec).type() != fs::file_type::not_found;
  if (!exists) {
    if (::rename(path_.c_str(), target.c_str()) != 0)
      throw Error(target + ": cannot move the result into place: " + std::strerror(errno));
    path_.clear();
    return;
  }
  if (!replace) throw Error(target + ": already exists (use --force to replace it)");
  if (renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    remove();  // path_ now holds the old contents
    return;
  }
  // No atomic exchange here (filesystem or kernel): move the old one aside first.
  TempDir old = TempDir::beside(target + ".old");
  fs::path aside = fs::path(old.path()) / "old";
  if (::rename(target.c_str(), aside.c_str()) != 0)
    throw Error(target + ": cannot move the existing directory aside: " + std::strerror(errno));
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::rename(aside.c_str(), target.c_str());  // put the old one back
    throw Error(target + ": cannot move the result into place: " + std::strerror(err));
  }
  path_.clear();
}

static void finish_copy(const std::string& to, int out, bool sync) {
  if (sync && fsync(out) != 0) throw Error(to + ": cannot flush to disk: " + std::strerror(errno));
}

void copy_file_contents(const std::string& from, const std::string& to, bool sync) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw Error(from + ": cannot open: " + std::strerror(errno));
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    int err = errno;
    ::close(in);
    throw Error(to + ": cannot create: " + std::strerror(err));
  }
  struct Closer {
    int a, b;
    ~Closer() {
      ::close(a);
      ::close(b);
    }
  } closer{in, out};
  bool kernel_copy = true;
  while (kernel_copy) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n == 0) return finish_copy(to, out, sync);
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
      throw Error(to + ": copy failed: " + std::strerror(errno));
    kernel_copy = false;  // e.g. across filesystems on an older kernel: copy through memory
  }
  std::vector<char> buffer(1 << 20);
  while (true) {
    ssize_t got = ::read(in, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Error(from + ": read failed: " + std::strerror(errno));
    if (got == 0) return finish_copy(to, out, sync);
    for (ssize_t done = 0; done < got;) {
      ssize_t w = ::write(out, buffer.data() + done, static_cast<size_t>(got - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error(to + ": write failed: " + std::strerror(errno));
      done += w;
    }
  }
}

void check_destination(const std::string& src, const std::string& dst, bool force) {
  std::error_code ec;
  fs::path s = src.empty() ? fs::path() : fs::weakly_canonical(fs::absolute(src), ec);
  fs::path d = fs::weakly_canonical(fs::absolute(dst), ec);
  auto inside = [](const fs::path& inner, const fs::path& outer) {
    auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    return o == outer.end();
  };
  if (!src.empty() && inside(d, s))
    throw Error(dst + ": the destination is the source or lies inside it");
  if (!src.empty() && inside(s, d)) throw Error(dst + ": the source lies inside the destination");
  if (!fs::is_directory(d.parent_path()))
    throw Error(dst + ": its parent directory does not exist");
  if (fs::symlink_status(d, ec).type() != fs::file_type::not_found && !force)
    throw Error(dst + ": already exists (use --force to replace it)");
}

}  // namespace chainconv
