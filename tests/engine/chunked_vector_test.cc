// ChunkedVector: what a std::vector of the same pushes holds, element for element, across
// chunk boundaries; and references that stay valid while it grows (a std::vector's do not).
#include "program/chunked_vector.h"

#include <catch2/catch.hpp>
#include <string>

using namespace chainconv;

TEST_CASE("ChunkedVector holds what was pushed, in order, across chunks") {
  constexpr size_t kChunk = ChunkedVector<std::string>::kChunk;
  for (size_t n : {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk + 7}) {
    CAPTURE(n);
    ChunkedVector<std::string> v;
    v.reserve(n / 2);  // a reserve short of the final size changes nothing
    for (size_t i = 0; i < n; ++i) v.push_back("key." + std::to_string(i));
    REQUIRE(v.size() == n);
    CHECK(v.empty() == (n == 0));
    for (size_t i = 0; i < n; ++i) REQUIRE(v[i] == "key." + std::to_string(i));
    if (n) CHECK(v.back() == "key." + std::to_string(n - 1));
    const ChunkedVector<std::string> copy = v;  // copies own their elements
    v.push_back("more");
    CHECK(copy.size() == n);
    if (n) CHECK(copy[n - 1] == "key." + std::to_string(n - 1));
    const ChunkedVector<std::string> moved = std::move(v);
    CHECK(moved.size() == n + 1);
    CHECK(moved[n] == "more");
  }
}

TEST_CASE("ChunkedVector elements stay where they are as it grows") {
  ChunkedVector<int> v;
  v.push_back(42);
  const int* first = &v[0];
  for (int i = 1; i < 10 * static_cast<int>(ChunkedVector<int>::kChunk); ++i) v.push_back(i);
  CHECK(&v[0] == first);
  CHECK(*first == 42);
  v[0] = 7;  // written through operator[]
  CHECK(*first == 7);
}
