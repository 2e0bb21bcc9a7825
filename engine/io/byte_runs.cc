#include "io/byte_runs.h"

#include <algorithm>

#include "core/error.h"

namespace chainconv {

void ByteRuns::append(const ByteRun& run) {
  if (run.length == 0) return;
  if (!runs_.empty()) {
    ByteRun& last = runs_.back();
    if (last.source == run.source && last.offset + last.length == run.offset) {
      last.length += run.length;
      size_ += run.length;
      return;
    }
  }
  runs_.push_back(run);
  starts_.push_back(size_);
  size_ += run.length;
}

void ByteRuns::append(const ByteRuns& other) {
  for (const ByteRun& run : other.runs_) append(run);
}

ByteRuns ByteRuns::slice(uint64_t begin, uint64_t end) const {
  if (begin > end || end > size_) throw Error("internal: byte range out of bounds");
  ByteRuns out;
  if (begin == end) return out;
  size_t i = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), begin) -
                                 starts_.begin()) -
             1;
  for (; i < runs_.size() && starts_[i] < end; ++i) {
    uint64_t from = std::max(begin, starts_[i]);
    uint64_t to = std::min(end, starts_[i] + runs_[i].length);
    out.append(ByteRun{runs_[i].source, runs_[i].offset + (from - starts_[i]), to - from});
  }
  return out;
}

bool ByteRuns::operator==(const ByteRuns& other) const {
  if (runs_.size() != other.runs_.size()) return false;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const ByteRun &a = runs_[i], &b = other.runs_[i];
    if (a.source != b.source || a.offset != b.offset || a.length != b.length) return false;
  }
  return true;
}

void for_each_view_block(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                         int64_t storage_offset, uint64_t itemsize,
                         const std::function<void(uint64_t, uint64_t)>& fn) {
  const size_t ndim = sizes.size();
  for (int64_t s : sizes)
    if (s == 0) return;
  // The innermost dims that are laid out contiguously form one block.
  size_t inner = ndim;
  int64_t block = 1;
  while (inner > 0) {
    size_t d = inner - 1;
    if (sizes[d] != 1 && strides[d] != block) break;
    block *= sizes[d];
    inner = d;
  }
  std::vector<int64_t> index(inner, 0);
  while (true) {
    int64_t start = storage_offset;
    for (size_t d = 0; d < inner; ++d) start += index[d] * strides[d];
    fn(static_cast<uint64_t>(start) * itemsize, static_cast<uint64_t>(block) * itemsize);
    size_t d = inner;
    while (d > 0 && ++index[d - 1] == sizes[d - 1]) index[--d] = 0;
    if (d == 0) return;
  }
}

}  // namespace chainconv
