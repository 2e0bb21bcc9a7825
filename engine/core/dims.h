// A tensor's sizes or strides. Lowering makes a description for every key of a state dict,
// tens of thousands per call, and almost every tensor has six dims or fewer: those are held
// inline, so describing a tensor allocates nothing. More dims go to the heap.
//
// The interface is the part of std::vector<int64_t> the engine uses; a Dims converts to and
// from a vector (key sets and the public API keep vectors) and views as at::IntArrayRef.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

namespace chainconv {

class Dims {
 public:
  static constexpr uint32_t kInline = 6;

  Dims() = default;
  Dims(std::initializer_list<int64_t> values) { assign(values.begin(), values.end()); }
  Dims(const std::vector<int64_t>& values) { assign(values.data(), values.data() + values.size()); }
  explicit Dims(size_t n, int64_t value = 0) { assign(n, value); }
  Dims(const int64_t* first, const int64_t* last) { assign(first, last); }
  Dims(const Dims& other) { assign(other.begin(), other.end()); }
  Dims(Dims&& other) noexcept { take(other); }
  Dims& operator=(const Dims& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Dims& operator=(Dims&& other) noexcept {
    if (this != &other) take(other);
    return *this;
  }
  Dims& operator=(std::initializer_list<int64_t> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  Dims& operator=(const std::vector<int64_t>& values) {
    assign(values.data(), values.data() + values.size());
    return *this;
  }

  operator std::vector<int64_t>() const { return std::vector<int64_t>(begin(), end()); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return heap_ ? heap_.get() : inline_; }
  const int64_t* data() const { return heap_ ? heap_.get() : inline_; }
  int64_t* begin() { return data(); }
  int64_t* end() { return data() + size_; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + size_; }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t front() const { return data()[0]; }
  int64_t back() const { return data()[size_ - 1]; }

  void assign(size_t n, int64_t value) {
    reserve_exact(n);
    std::fill(data(), data() + n, value);
    size_ = static_cast<uint32_t>(n);
  }
  void assign(const int64_t* first, const int64_t* last) {
    const auto n = static_cast<size_t>(last - first);
    if (n > capacity_) {  // `first` may point into this: copy before replacing the storage
      std::unique_ptr<int64_t[]> heap(new int64_t[n]);
      std::copy(first, last, heap.get());
      heap_ = std::move(heap);
      capacity_ = static_cast<uint32_t>(n);
    } else {
      std::copy(first, last, data());
    }
    size_ = static_cast<uint32_t>(n);
  }
  void resize(size_t n, int64_t value = 0) {
    reserve(n);
    if (n > size_) std::fill(data() + size_, data() + n, value);
    size_ = static_cast<uint32_t>(n);
  }
  void push_back(int64_t value) {
    reserve(size_ + 1);
    data()[size_++] = value;
  }
  int64_t* insert(const int64_t* pos, int64_t value) {
    const auto i = static_cast<size_t>(pos - data());
    reserve(size_ + 1);
    int64_t* d = data();
    std::copy_backward(d + i, d + size_, d + size_ + 1);
    d[i] = value;
    ++size_;
    return d + i;
  }
  int64_t* erase(const int64_t* pos) {
    const auto i = static_cast<size_t>(pos - data());
    int64_t* d = data();
    std::copy(d + i + 1, d + size_, d + i);
    --size_;
    return d + i;
  }
  void reserve(size_t n) {
    if (n > capacity_) grow(std::max<size_t>(n, 2 * size_t{capacity_}));
  }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }
  friend bool operator==(const Dims& a, const std::vector<int64_t>& b) {
    return a.size_ == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Dims& a, const std::vector<int64_t>& b) { return !(a == b); }
  friend bool operator==(const std::vector<int64_t>& a, const Dims& b) { return b == a; }
  friend bool operator!=(const std::vector<int64_t>& a, const Dims& b) { return !(b == a); }

 private:
  void reserve_exact(size_t n) {
    if (n > capacity_) grow(n);
  }
  void grow(size_t n) {
    std::unique_ptr<int64_t[]> heap(new int64_t[n]);
    std::copy(begin(), end(), heap.get());
    heap_ = std::move(heap);
    capacity_ = static_cast<uint32_t>(n);
  }
  void take(Dims& other) {
    if (other.heap_) {
      heap_ = std::move(other.heap_);
      capacity_ = other.capacity_;
    } else {
      heap_.reset();
      capacity_ = kInline;
      std::copy(other.inline_, other.inline_ + other.size_, inline_);
    }
    size_ = other.size_;
    other.size_ = 0;
    other.capacity_ = kInline;
  }

  int64_t inline_[kInline];
  std::unique_ptr<int64_t[]> heap_;
  uint32_t size_ = 0;
  uint32_t capacity_ = kInline;
};

}  // namespace chainconv
