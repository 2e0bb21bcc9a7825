// Reading the files a user names: chain files, configs, layouts, indexes, safetensors
// headers. Whatever the name resolves to, only a regular file is opened for reading, and
// only so much of it is read: a FIFO would block forever, /dev/zero would never end, and a
// directory is never what was meant. No LibTorch here: the fuzzers link this alone.
#pragma once

#include <cstdint>
#include <string>

namespace chainconv {

// The cap on a chain, config.json, layout or index file: real ones are a few hundred KB.
inline constexpr uint64_t kMaxTextFileSize = 16ull << 20;

// Opens `path` (symlinks followed) read-only and returns the descriptor, which the caller
// closes. Throws Error naming the file when it does not exist, cannot be opened, or is not
// a regular file (a directory, FIFO, socket or device); it never blocks on a FIFO. Messages
// read "PATH: cannot read WHAT: why" ("cannot read: why" without `what`).
int open_regular_file(const std::string& path, const std::string& what = "");

// The whole content of the regular file `path`, at most `max_size` bytes; throws Error
// naming the file when it is not a regular file, cannot be read, or is larger.
std::string read_regular_file(const std::string& path, uint64_t max_size = kMaxTextFileSize,
                              const std::string& what = "");

}  // namespace chainconv
