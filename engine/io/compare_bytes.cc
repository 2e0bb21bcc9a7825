#include "io/compare_bytes.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"

namespace chainconv {
namespace {

constexpr uint64_t kChunk = 16ull << 20;

void read_exactly(const MappedFile& file, char* buffer, uint64_t n, uint64_t offset) {
  for (uint64_t done = 0; done < n;) {
    ssize_t got = ::pread(file.fd(), buffer + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      throw Error(file.path() + ": cannot read bytes " + std::to_string(offset + done) + ".." +
                  std::to_string(offset + n) + ": " + std::strerror(errno));
    if (got == 0)
      throw Error(file.path() + ": ends before byte " + std::to_string(offset + n) +
                  " (it shrank while being read: was it changed during the conversion?)");
    done += static_cast<uint64_t>(got);
  }
}

}  // namespace

bool same_file_bytes(const MappedFile& a, uint64_t a_offset, const MappedFile& b, uint64_t b_offset,
                     uint64_t n) {
  thread_local std::vector<char> buffer_a, buffer_b;
  const size_t size = static_cast<size_t>(std::min(n, kChunk));
  if (buffer_a.size() < size) {
    buffer_a.resize(size);
    buffer_b.resize(size);
  }
  for (uint64_t done = 0; done < n;) {
    const uint64_t m = std::min(kChunk, n - done);
    read_exactly(a, buffer_a.data(), m, a_offset + done);
    read_exactly(b, buffer_b.data(), m, b_offset + done);
    if (std::memcmp(buffer_a.data(), buffer_b.data(), m) != 0) return false;
    done += m;
  }
  return true;
}

}  // namespace chainconv
