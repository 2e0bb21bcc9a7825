// Where a tensor's bytes come from, as a list of runs of source bytes in element order: a
// renamed tensor is one run of its input file, one expert's slice of a stacked tensor is one
// run, the gate half of a fused gate_up_proj is one run per expert. The writer copies runs
// file to file (copy_file_range), so moved bytes never pass through user space.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace chainconv {

struct ByteRun {
  size_t source = 0;  // which input file
  uint64_t offset = 0;
  uint64_t length = 0;
};

class ByteRuns {
 public:
  ByteRuns() = default;
  explicit ByteRuns(ByteRun run) { append(run); }

  // Appends, merging with the last run when they are adjacent in the same source.
  void append(const ByteRun& run);
  void append(const ByteRuns& other);
  // Bytes [begin, end) of the concatenation.
  ByteRuns slice(uint64_t begin, uint64_t end) const;

  uint64_t size() const { return size_; }
  const std::vector<ByteRun>& runs() const { return runs_; }
  bool operator==(const ByteRuns& other) const;

 private:
  std::vector<ByteRun> runs_;
  std::vector<uint64_t> starts_;  // starts_[i]: position of runs_[i] in the concatenation
  uint64_t size_ = 0;
};

// Calls fn(begin, length) for each maximal contiguous block of element bytes a strided view
// covers, in the view's element order. Offsets and strides are in elements.
void for_each_view_block(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                         int64_t storage_offset, uint64_t itemsize,
                         const std::function<void(uint64_t, uint64_t)>& fn);

}  // namespace chainconv
