#include "core/dims.h"

#include <catch2/catch.hpp>

using namespace chainconv;

static std::vector<int64_t> iota(size_t n) {
  std::vector<int64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int64_t>(10 * i + 1);
  return v;
}

TEST_CASE("Dims keeps a vector's values through copies, moves and edits, inline or not") {
  for (size_t n : {0, 1, 5, 6, 7, 13}) {
    CAPTURE(n);
    const std::vector<int64_t> v = iota(n);
    Dims d = v;
    REQUIRE(d.size() == n);
    CHECK(d == v);
    CHECK(std::vector<int64_t>(d) == v);
    Dims copy = d;
    CHECK(copy == d);
    copy.push_back(-1);  // crosses from inline to the heap at n = 6
    CHECK(copy.size() == n + 1);
    CHECK(copy.back() == -1);
    CHECK(d == v);  // the copy owns its values
    Dims moved = std::move(copy);
    CHECK(moved.size() == n + 1);
    CHECK(copy.empty());
    copy = moved;  // a moved-from Dims is usable
    CHECK(copy == moved);
    // insert / erase as std::vector does them
    std::vector<int64_t> expected = v;
    expected.insert(expected.begin() + static_cast<long>(n / 2), 99);
    moved = d;
    moved.insert(moved.begin() + n / 2, 99);
    CHECK(moved == expected);
    expected.erase(expected.begin());
    moved.erase(moved.begin());
    CHECK(moved == expected);
    moved.resize(n + 3, 7);
    CHECK(moved.size() == n + 3);
    CHECK(moved[n + 2] == 7);
    Dims self = d;
    self = self;  // NOLINT: self-assignment keeps the values
    CHECK(self == v);
  }
}

TEST_CASE("Dims compares by size and values") {
  CHECK(Dims{1, 2, 3} == Dims{1, 2, 3});
  CHECK(Dims{1, 2, 3} != Dims{1, 2});
  CHECK(Dims{1, 2, 3} != Dims{1, 2, 4});
  CHECK(Dims{} == std::vector<int64_t>{});
  CHECK(Dims(8, 2) == std::vector<int64_t>(8, 2));
  CHECK(Dims(8, 2) != std::vector<int64_t>(7, 2));
}
