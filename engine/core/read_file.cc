#include "core/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace chainconv {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, const std::string& why) {
  throw Error(Position{path, 0, 0}, "cannot read" + (what.empty() ? "" : " " + what) + ": " + why);
}

std::string kind_of(mode_t mode) {
  const char* kind = S_ISDIR(mode)    ? "a directory"
                     : S_ISFIFO(mode) ? "a FIFO"
                     : S_ISSOCK(mode) ? "a socket"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                                      : "not a plain file";
  return std::string("not a regular file (") + kind + ")";
}

}  // namespace

int open_regular_file(const std::string& path, const std::string& what) {
  // stat first so that nothing but a regular file is ever opened (opening some devices has
  // effects of its own); fstat after, since the name may have changed in between, and
  // O_NONBLOCK so that a FIFO swapped in meanwhile cannot block the open.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, what, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, what, kind_of(st.st_mode));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail(path, what, std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = S_ISREG(st.st_mode) ? std::strerror(errno) : kind_of(st.st_mode);
    ::close(fd);
    fail(path, what, why);
  }
  return fd;
}

std::string read_regular_file(const std::string& path, uint64_t max_size, const std::string& what) {
  int fd = open_regular_file(path, what);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto too_large = [&] {
    fail(path, what, "larger than " + std::to_string(max_size) + " bytes, the limit for this file");
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, what, std::strerror(errno));
  if (static_cast<uint64_t>(st.st_size) > max_size) too_large();
  // Read to the end rather than trusting st_size (the file may grow while it is read, and
  // /proc files say 0), one byte past the cap to tell "at the limit" from "larger".
  std::string text(static_cast<size_t>(st.st_size), '\0');
  uint64_t done = 0;
  while (true) {
    if (done == text.size()) {
      if (done > max_size) too_large();
      text.resize(static_cast<size_t>(std::min<uint64_t>(max_size + 1, done * 2 + 4096)));
    }
    ssize_t got = ::read(fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path, what, std::strerror(errno));
    if (got == 0) break;
    done += static_cast<uint64_t>(got);
  }
  if (done > max_size) too_large();
  text.resize(static_cast<size_t>(done));
  return text;
}

}  // namespace chainconv
