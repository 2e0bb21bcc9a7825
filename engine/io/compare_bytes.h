// Comparing byte ranges of two files for --verify. The bytes are read with pread rather than
// through the files' mappings: a file that shrinks meanwhile (another process truncating a
// source shard) then gives a short read and an Error naming that file, where touching its
// mapping past the new end would kill the process with SIGBUS and leave its temporary
// directories behind. The copy phase is safe the same way: it copies with copy_file_range.
#pragma once

#include <cstdint>

namespace chainconv {

class MappedFile;

// Whether `n` bytes at `a_offset` of `a` equal `n` bytes at `b_offset` of `b`. Throws Error
// naming the file that ends before its range does.
bool same_file_bytes(const MappedFile& a, uint64_t a_offset, const MappedFile& b, uint64_t b_offset,
                     uint64_t n);

}  // namespace chainconv
