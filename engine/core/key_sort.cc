#include "core/key_sort.h"

#include <algorithm>
#include <cstring>

namespace chainconv {

namespace {

// A key at one depth: the eight bytes from `offset` as a big-endian number (missing bytes
// are zero), and how many of them the key has (9: more follow). Ordering by the pair is
// byte order: where the words differ, the first differing byte decides, and a key that has
// ended there (a zero of padding) is a prefix of the other, so it comes first; where they
// are equal, the key with fewer bytes is a prefix of the other.
struct Item {
  uint64_t word = 0;
  uint32_t bytes = 0;
  uint32_t index = 0;
  bool operator<(const Item& o) const { return word != o.word ? word < o.word : bytes < o.bytes; }
  bool tied(const Item& o) const { return word == o.word && bytes == o.bytes; }
};

constexpr uint32_t kMore = 9;
// Below this many keys a comparison sort of what is left of them is quicker.
constexpr size_t kSmall = 24;
// Probes of sort_by_few_words's table before it gives up on a range.
constexpr int kMaxProbes = 64;

void read_word(Item& item, std::string_view key, size_t offset) {
  const size_t left = key.size() - offset;  // keys here are all longer than offset
  unsigned char bytes[8] = {};
  std::memcpy(bytes, key.data() + offset, std::min<size_t>(left, 8));
  uint64_t word = 0;
  for (unsigned char b : bytes) word = word << 8 | b;
  item.word = word;
  item.bytes = static_cast<uint32_t>(std::min<size_t>(left, kMore));
}

// Buffers sort_by_few_words reuses from one range to the next.
struct Scratch {
  std::vector<int32_t> table;      // open addressing: a distinct word's number, or -1
  std::vector<Item> distinct;      // one item per distinct (word, bytes)
  std::vector<uint32_t> count;     // per distinct number: how many items have it
  std::vector<uint32_t> by_value;  // distinct numbers in value order
  std::vector<uint32_t> rank_of;   // per distinct number: where its items start
  std::vector<uint32_t> which;     // per item of the range: its distinct number
  std::vector<Item> sorted;
};

// Keys at one depth mostly take few values (48 layer numbers, 128 expert numbers, a few
// projection names), and a comparison sort of n items costs n log n mispredicted branches
// however few there are. Sorts items[begin, end) by finding the distinct values, sorting
// those, and placing each item by its value's rank (counting sort). Returns false, the items
// left as they were, when the values are too many for that to pay.
bool sort_by_few_words(std::vector<Item>& items, size_t begin, size_t end, Scratch& s) {
  const size_t n = end - begin;
  const size_t most = std::max<size_t>(n / 2, 16);  // distinct values worth counting
  size_t capacity = 32;
  while (capacity < 2 * most) capacity *= 2;
  s.table.assign(capacity, -1);
  s.distinct.clear();
  s.count.clear();
  s.which.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Item& it = items[begin + i];
    uint64_t h = (it.word ^ it.bytes) * 0x9E3779B97F4A7C15ull;
    size_t at = (h ^ (h >> 32)) & (capacity - 1);
    // Keys come from files and callers: values built to collide here must not make this
    // quadratic, so a long probe gives up (the comparison sort then does the range).
    for (int probes = 0; s.table[at] >= 0 && !s.distinct[static_cast<size_t>(s.table[at])].tied(it);
         ++probes) {
      if (probes == kMaxProbes) return false;
      at = (at + 1) & (capacity - 1);
    }
    if (s.table[at] < 0) {
      if (s.distinct.size() == most) return false;
      s.table[at] = static_cast<int32_t>(s.distinct.size());
      s.distinct.push_back(it);
      s.count.push_back(0);
    }
    ++s.count[static_cast<size_t>(s.table[at])];
    s.which[i] = static_cast<uint32_t>(s.table[at]);
  }
  // Ranks in value order, then each value's first place (counts become start positions).
  s.by_value.resize(s.distinct.size());
  for (uint32_t d = 0; d < s.by_value.size(); ++d) s.by_value[d] = d;
  std::sort(s.by_value.begin(), s.by_value.end(),
            [&](uint32_t a, uint32_t b) { return s.distinct[a] < s.distinct[b]; });
  s.rank_of.resize(s.distinct.size());
  uint32_t place = 0;
  for (uint32_t d : s.by_value) {
    s.rank_of[d] = place;
    place += s.count[d];
  }
  s.sorted.resize(n);
  for (size_t i = 0; i < n; ++i) s.sorted[s.rank_of[s.which[i]]++] = items[begin + i];
  std::copy(s.sorted.begin(), s.sorted.end(), items.begin() + static_cast<std::ptrdiff_t>(begin));
  return true;
}

// A stretch of items whose keys all agree in their first `offset` bytes and are all longer
// than that.
struct Range {
  size_t begin, end, offset;
};

// Sorts each range, and the ranges it leaves tied, until none is left. (A list of ranges, not
// recursion: keys built to tie for a long way in large groups must not exhaust the stack.)
void sort_ranges(std::vector<Item>& items, std::vector<Range> todo,
                 const std::vector<std::string_view>& keys) {
  Scratch scratch;
  while (!todo.empty()) {
    auto [begin, end, offset] = todo.back();
    todo.pop_back();
    while (end - begin > 1) {
      const auto first = items.begin() + static_cast<std::ptrdiff_t>(begin);
      const auto last = items.begin() + static_cast<std::ptrdiff_t>(end);
      if (end - begin <= kSmall) {
        std::sort(first, last, [&, at = offset](const Item& a, const Item& b) {
          return keys[a.index].substr(at) < keys[b.index].substr(at);
        });
        break;
      }
      bool all_tied = true;
      for (auto it = first; it != last; ++it) {
        read_word(*it, keys[it->index], offset);
        all_tied = all_tied && it->tied(*first);
      }
      if (!all_tied) {
        if (!sort_by_few_words(items, begin, end, scratch)) std::sort(first, last);
        for (size_t run = begin; run < end;) {
          size_t run_end = run + 1;
          while (run_end < end && items[run_end].tied(items[run])) ++run_end;
          if (items[run].bytes == kMore && run_end - run > 1)
            todo.push_back({run, run_end, offset + 8});
          run = run_end;
        }
        break;
      }
      if (first->bytes != kMore) break;  // all the same key
      offset += 8;  // a stretch every key shares: on to the next eight bytes, no sort
    }
  }
}

}  // namespace

void sort_by_bytes(std::vector<uint32_t>& order, const std::vector<std::string_view>& keys) {
  std::vector<Item> items(order.size());
  for (size_t i = 0; i < order.size(); ++i) items[i].index = order[i];
  // Empty keys come first; every other key is longer than offset 0.
  auto nonempty = std::stable_partition(items.begin(), items.end(),
                                        [&](const Item& it) { return keys[it.index].empty(); });
  sort_ranges(items, {{static_cast<size_t>(nonempty - items.begin()), items.size(), 0}}, keys);
  for (size_t i = 0; i < order.size(); ++i) order[i] = items[i].index;
}

}  // namespace chainconv
