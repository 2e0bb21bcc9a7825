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
#include "core/read_file.h"

namespace fs = std::filesystem;

namespace chainconv {

// Pieces copied between two cancellation checks: well under a second at disk speed.
static constexpr size_t kChunk = 64 << 20;

static void finish_copy(const std::string& to, int out, bool sync) {
  if (sync && fsync(out) != 0) throw Error(to + ": cannot flush to disk: " + std::strerror(errno));
}

void copy_file_contents(const std::string& from, const std::string& to, bool sync,
                        const std::function<void()>& check) {
  int in = open_regular_file(from);
  struct stat st {};
  if (fstat(in, &st) != 0) {
    int err = errno;
    ::close(in);
    throw Error(from + ": cannot stat: " + std::strerror(err));
  }
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
  // The source's permission bits exactly (fchmod ignores the umask): a 0600 secret stays
  // private and an executable stays executable.
  if (fchmod(out, st.st_mode & 0777) != 0)
    throw Error(to + ": cannot set its mode: " + std::strerror(errno));
  bool kernel_copy = true;
  while (kernel_copy) {
    if (check) check();
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, kChunk, 0);
    if (n == 0) return finish_copy(to, out, sync);
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
      throw Error(to + ": copy failed: " + std::strerror(errno));
    kernel_copy = false;  // e.g. across filesystems on an older kernel: copy through memory
  }
  std::vector<char> buffer(1 << 20);
  for (uint64_t since_check = 0;; since_check += buffer.size()) {
    if (check && since_check >= kChunk) {
      check();
      since_check = 0;
    }
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
  fs::path d = fs::weakly_canonical(fs::absolute(without_trailing_slashes(dst)), ec);
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
    throw ChoiceError(ChoiceError::Choice::replace_destination, dst + ": already exists");
}

}  // namespace chainconv
