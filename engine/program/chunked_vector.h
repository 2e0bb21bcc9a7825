// A vector kept in fixed-size chunks that never move.
//
// A step program has a slot per key of a model (18,000 and more) and learns how many only as
// lowering goes (a to_hf unstacks 579 keys into 18,867). A std::vector growing that far
// moves everything it holds at each doubling, into memory the process has not touched
// before: twice the final size is written and paged in, and on a machine where a page fault
// is slow (about 11 us on the VM the README measures on) that decides a first call's time.
// Here each element is written once, into chunks that malloc can hand back out whole to the
// next program; and references to elements stay valid as it grows.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace chainconv {

template <class T>
class ChunkedVector {
 public:
  // 512 elements a chunk: a TensorDesc chunk is under malloc's default threshold for mmap
  // (128 KB), so a freed chunk goes back to the heap for the next one instead of to the system.
  static constexpr size_t kChunk = 512;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const T& operator[](size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(T value) {
    if (size_ == chunks_.size() * kChunk) chunks_.emplace_back().reserve(kChunk);
    chunks_.back().push_back(std::move(value));
    ++size_;
  }
  void reserve(size_t n) { chunks_.reserve((n + kChunk - 1) / kChunk); }

 private:
  std::vector<std::vector<T>> chunks_;  // each holds kChunk elements but the last
  size_t size_ = 0;
};

}  // namespace chainconv
