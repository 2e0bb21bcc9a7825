// A read-only memory mapping of a whole file. Tensors read from a checkpoint are views of
// the mapping (no copy); each view holds a shared_ptr to it, so the mapping lives as long
// as any tensor that points into it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace chainconv {

class MappedFile {
 public:
  // Maps `path` read-only; throws Error naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

  // Lets the kernel drop the pages of [offset, offset + length) from this process's
  // resident set (they stay in the page cache): how a streaming pass keeps its peak RSS to
  // the group it is working on.
  void release(uint64_t offset, uint64_t length) const;

 private:
  MappedFile() = default;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  const uint8_t* data_ = nullptr;
};

}  // namespace chainconv
