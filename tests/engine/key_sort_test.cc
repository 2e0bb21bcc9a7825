// sort_by_bytes against the plain comparison sort it replaces (std::sort of the same
// strings), on key sets built to hit each of its cases: long shared stretches, keys that are
// prefixes of others or end exactly at a word's edge, zero and high bytes, equal keys, and
// groups small enough for its comparison fallback and large enough for its integer sort.
#include "core/key_sort.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <random>
#include <string>

using namespace chainconv;

static std::vector<std::string> sorted_by(const std::vector<std::string>& keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<uint32_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0u);
  sort_by_bytes(order, views);
  std::vector<uint32_t> seen = order;
  std::sort(seen.begin(), seen.end());
  for (uint32_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);  // a permutation
  std::vector<std::string> out;
  for (uint32_t i : order) out.push_back(keys[i]);
  return out;
}

static std::vector<std::string> std_sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST_CASE("sort_by_bytes orders a few keys by hand") {
  // Expected by hand: byte order puts "layers.10" before "layers.2", a prefix before the key
  // it begins, and a high byte after every ASCII one.
  const std::vector<std::string> keys = {
      "model.layers.2.w", "model.layers.10.w", "", "model.layers.1", "model.\xff",
      "model.layers.1.w", "model.layers.1"};
  CHECK(sorted_by(keys) == std::vector<std::string>{"", "model.layers.1", "model.layers.1",
                                                    "model.layers.1.w", "model.layers.10.w",
                                                    "model.layers.2.w", "model.\xff"});
}

TEST_CASE("sort_by_bytes agrees with std::sort on a model-sized key set in any order") {
  std::vector<std::string> keys;
  for (int layer = 0; layer < 12; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    for (int e = 0; e < 40; ++e)
      for (const char* proj : {"gate_proj", "down_proj", "up_proj"})
        keys.push_back(prefix + "mlp.experts." + std::to_string(e) + "." + proj + ".weight");
    keys.push_back(prefix + "self_attn.q_proj.weight");
    keys.push_back(prefix + "mlp.gate.weight");
  }
  keys.push_back("model.embed_tokens.weight");
  keys.push_back("lm_head.weight");
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(keys.begin(), keys.end(), rng);
    CHECK(sorted_by(keys) == std_sorted(keys));
  }
}

TEST_CASE("sort_by_bytes agrees with std::sort at word edges, zero bytes and duplicates") {
  std::mt19937 rng(11);
  // Few distinct bytes (zero and 0xFF among them) and lengths around multiples of eight make
  // ties, prefixes and keys ending exactly at a word's edge common.
  const std::string alphabet(
      "\x00\x01"
      "a\x7f\x80\xff",
      6);
  for (size_t count : {2, 5, 30, 200, 3000}) {
    CAPTURE(count);
    std::vector<std::string> keys;
    const std::string shared(16, 'k');
    for (size_t i = 0; i < count; ++i) {
      std::string key = rng() % 2 ? shared : "";
      const size_t length = rng() % 26;
      for (size_t j = 0; j < length; ++j) key += alphabet[rng() % alphabet.size()];
      keys.push_back(key);
      if (rng() % 5 == 0) keys.push_back(key);  // an equal key
      if (rng() % 5 == 0 && !key.empty()) keys.push_back(key.substr(0, rng() % key.size()));
    }
    CHECK(sorted_by(keys) == std_sorted(keys));
  }
}

TEST_CASE("sort_by_bytes agrees with std::sort on keys that tie for long stretches") {
  // Key i is 8 i bytes of 'a' then a 'b': at every depth one key leaves the tied group, so the
  // groups stay large as far down as the keys go (the sort keeps a list of ranges for this,
  // not a recursion as deep as the keys are long).
  std::vector<std::string> keys;
  for (size_t i = 0; i < 400; ++i) keys.push_back(std::string(8 * i, 'a') + "b");
  std::mt19937 rng(3);
  std::shuffle(keys.begin(), keys.end(), rng);
  CHECK(sorted_by(keys) == std_sorted(keys));
}

TEST_CASE("sort_by_bytes agrees with std::sort on values built to collide in its table") {
  // The counting sort hashes each depth's eight bytes as (word ^ 9) * 0x9E3779B97F4A7C15
  // folded; words w = ((k << 52) * inverse) ^ 9 all land in slot 0. A bounded probe must
  // hand such a range to the comparison sort, with the same result.
  constexpr uint64_t kInverse = 0xf1de83e19937733dull;  // of 0x9E3779B97F4A7C15 mod 2^64
  std::vector<std::string> keys;
  for (uint64_t k = 1; k <= 2000; ++k) {
    const uint64_t word = ((k << 52) * kInverse) ^ 9;
    std::string key;
    for (int shift = 56; shift >= 0; shift -= 8) key += static_cast<char>((word >> shift) & 0xff);
    keys.push_back(key + "tail");
  }
  std::mt19937 rng(5);
  std::shuffle(keys.begin(), keys.end(), rng);
  CHECK(sorted_by(keys) == std_sorted(keys));
}
