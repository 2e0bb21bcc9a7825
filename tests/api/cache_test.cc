// The compiled-conversion cache behind Chain::to_prime / to_hf / compile: a key set seen
// before is not lowered again, anything that changes the lowering is, and one Chain serves
// several threads. Expectations by hand (hf_moe_layer: I = 2, H = 3, expert e's gate_proj
// counts from 100 e).
#include <thread>

#include "api/api_support.h"

using namespace api_test;

static const std::string L3 = "model.layers.3.mlp.";

TEST_CASE(
    "the same key set, with other values or listed in another order, reuses its compiled "
    "conversion") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const uint64_t first = chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime).id();
  CHECK(chain.compile(hf_moe_layer(3, 0, 4, 7000), cc::Direction::to_prime).id() == first);

  // A key set held elsewhere, listed backwards: the same key set, and `order` says where
  // each of the replay's inputs is in the caller's list.
  const cc::TensorMap layer = hf_moe_layer(3, 0, 4);
  std::vector<std::pair<std::string, at::Tensor>> entries(layer.begin(), layer.end());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<cc::TensorRef> refs;
  for (const auto& [key, tensor] : entries) refs.push_back({key, &tensor});
  std::vector<uint32_t> order;
  const cc::Replay replay = chain.compile(refs, cc::Direction::to_prime, {}, &order);
  CHECK(replay.id() == first);
  REQUIRE(order.size() == replay.input_keys().size());
  for (size_t i = 0; i < order.size(); ++i)
    CHECK(entries[order[i]].first == replay.input_keys()[i]);

  // to_prime goes through the same cache: after it, compiling the key set is a look-up.
  cc::Chain fresh = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd = hf_moe_layer(3, 0, 4);
  fresh.to_prime(sd);
  const uint64_t converted = fresh.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime).id();
  cc::TensorMap again = hf_moe_layer(3, 0, 4, 300);
  fresh.to_prime(again);
  CHECK(fresh.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime).id() == converted);
  CHECK(at::equal(again.at(L3 + "experts.w1")[1], counting({2, 3}, 400)));
}

TEST_CASE(
    "a changed shape, dtype, key set, direction or option compiles anew, and converts "
    "right") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const uint64_t base = chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime).id();

  cc::TensorMap wider = hf_moe_layer(3, 0, 4);
  for (int e = 0; e < 4; ++e) {
    const std::string x = L3 + "experts." + std::to_string(e) + ".";
    wider[x + "gate_proj.weight"] = counting({2, 5}, 100 * e);
    wider[x + "up_proj.weight"] = counting({2, 5}, 100 * e + 20);
    wider[x + "down_proj.weight"] = counting({5, 2}, 100 * e + 10);
  }
  CHECK(chain.compile(wider, cc::Direction::to_prime).id() != base);
  chain.to_prime(wider);
  CHECK(wider.at(L3 + "experts.w1").sizes() == at::IntArrayRef({4, 2, 5}));
  CHECK(at::equal(wider.at(L3 + "experts.w3")[3], counting({2, 5}, 320)));

  cc::TensorMap half = hf_moe_layer(3, 0, 4);
  for (auto& [key, tensor] : half) tensor = tensor.to(at::kBFloat16);
  CHECK(chain.compile(half, cc::Direction::to_prime).id() != base);
  chain.to_prime(half);
  CHECK(half.at(L3 + "experts.w2").scalar_type() == at::kBFloat16);
  CHECK(at::equal(half.at(L3 + "experts.w2")[2], counting({3, 2}, 210).to(at::kBFloat16)));

  cc::TensorMap renamed = hf_moe_layer(3, 0, 4);
  renamed["model.layers.3.post_attention_layernorm.weight"] = counting({3});
  CHECK(chain.compile(renamed, cc::Direction::to_prime).id() != base);
  CHECK(chain.compile(hf_moe_layer(3, 0, 5), cc::Direction::to_prime).id() != base);

  // The same stacked experts exported as another rank's shard: other output keys.
  const cc::TensorMap stacked{{L3 + "experts.w1", counting({2, 2, 3})}};
  cc::Options shard;
  shard.expert_offset = 4;
  const cc::Replay rank0 = chain.compile(stacked, cc::Direction::to_hf);
  const cc::Replay rank2 = chain.compile(stacked, cc::Direction::to_hf, shard);
  CHECK(rank0.id() != rank2.id());
  CHECK(rank2.output_keys() ==
        sorted({L3 + "experts.4.gate_proj.weight", L3 + "experts.5.gate_proj.weight"}));
  cc::Options strict;
  strict.strict = true;
  CHECK(chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime, strict).id() != base);

  // The key set itself in the other direction: passes through, a conversion of its own.
  CHECK(chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_hf).id() != base);
  // And the first key set is still cached.
  CHECK(chain.compile(hf_moe_layer(3, 0, 4), cc::Direction::to_prime).id() == base);
}

TEST_CASE("threads converting with one Chain get each their own right result") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  constexpr int kThreads = 4, kRounds = 40;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Threads share key sets (n = 2..3) and each round's values differ.
        const int n = 2 + (t + round) % 2;
        const double start = 10000.0 * t + round;
        cc::TensorMap sd = hf_moe_layer(3, 0, n, start);
        chain.to_prime(sd);
        const at::Tensor& w2 = sd.at(L3 + "experts.w2");
        if (w2.size(0) != n || !at::equal(w2[n - 1], counting({3, 2}, start + 100 * (n - 1) + 10)))
          ++wrong[t];
        chain.to_hf(sd);
        if (sd.size() != 2 + 3 * static_cast<size_t>(n) ||
            !at::equal(sd.at(L3 + "experts.1.up_proj.weight"), counting({2, 3}, start + 120)))
          ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(wrong == std::vector<int>(kThreads, 0));
}

TEST_CASE(
    "a cached conversion keeps the in-place guarantees: views share storage, and a "
    "failure leaves the dict as it was") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  for (int round = 0; round < 2; ++round) {  // the first call compiles, the second is cached
    cc::TensorMap sd{{L3 + "experts.w1", counting({2, 2, 3})},
                     {L3 + "experts.w2", counting({2, 3, 2}, 50)},
                     {L3 + "experts.w3", counting({2, 2, 3}, 90)}};
    const at::Tensor w3 = sd.at(L3 + "experts.w3");
    chain.to_hf(sd);
    const at::Tensor& up = sd.at(L3 + "experts.1.up_proj.weight");
    CHECK(up.storage().data() == w3.storage().data());
    CHECK(at::equal(up, counting({2, 3}, 96)));
  }
  // A gap in the experts fails at lowering; once cached, the same key set fails the same way.
  for (int round = 0; round < 2; ++round) {
    cc::TensorMap gap = hf_moe_layer(3, 0, 4);
    for (const char* proj : {"gate_proj", "down_proj", "up_proj"})
      gap.erase(L3 + "experts.2." + proj + ".weight");
    const cc::TensorMap before = gap;
    REQUIRE_THROWS_AS(chain.to_prime(gap), cc::Error);
    CHECK(keys_of(gap) == keys_of(before));
    CHECK(gap.at(L3 + "experts.3.up_proj.weight")
              .is_same(before.at(L3 + "experts.3.up_proj.weight")));
  }
}

// The cache remembers how a key set was last listed and confirms a call listing it the same
// way in one pass; a listing that differs anywhere (not only at its ends) must not be taken
// for it.
TEST_CASE(
    "a key set listed again in the same order is reused, and one differing in the middle, in "
    "order or in one shape is not") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  using Entries = std::vector<std::pair<std::string, at::Tensor>>;
  auto listed = [](cc::TensorMap map) {  // in key order
    Entries list(map.begin(), map.end());
    std::sort(list.begin(), list.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return list;
  };
  // Sorted: input_layernorm, the experts, experts_a (an unconverted key), mlp.gate.
  cc::TensorMap layer = hf_moe_layer(3, 0, 4);
  layer[L3 + "experts_a.weight"] = counting({3});
  const Entries entries = listed(layer);
  auto refs_of = [](const Entries& list) {
    std::vector<cc::TensorRef> refs;
    for (const auto& [key, tensor] : list) refs.push_back({key, &tensor});
    return refs;
  };
  auto order_is_right = [](const Entries& list, const cc::Replay& replay,
                           const std::vector<uint32_t>& order) {
    if (order.size() != replay.input_keys().size()) return false;
    for (size_t i = 0; i < order.size(); ++i)
      if (list[order[i]].first != replay.input_keys()[i]) return false;
    return true;
  };

  std::vector<uint32_t> order;
  const uint64_t id = chain.compile(refs_of(entries), cc::Direction::to_prime, {}, &order).id();
  CHECK(order_is_right(entries, chain.compile(refs_of(entries), cc::Direction::to_prime), order));
  CHECK(chain.compile(refs_of(entries), cc::Direction::to_prime).id() == id);

  // Two inner entries swapped: the same first key, the same key set, another order.
  Entries swapped = entries;
  std::swap(swapped[2], swapped[5]);
  for (int round = 0; round < 2; ++round) {  // alternating with the first listing
    const cc::Replay a = chain.compile(refs_of(swapped), cc::Direction::to_prime, {}, &order);
    CHECK(a.id() == id);
    CHECK(order_is_right(swapped, a, order));
    const cc::Replay b = chain.compile(refs_of(entries), cc::Direction::to_prime, {}, &order);
    CHECK(b.id() == id);
    CHECK(order_is_right(entries, b, order));
  }

  // One inner key replaced (same count, same first key): another key set.
  cc::TensorMap renamed = hf_moe_layer(3, 0, 4);
  renamed[L3 + "experts_b.weight"] = counting({3});
  const Entries other = listed(renamed);
  REQUIRE(other.size() == entries.size());
  REQUIRE(other.front().first == entries.front().first);
  REQUIRE(other.back().first == entries.back().first);
  const cc::Replay changed = chain.compile(refs_of(other), cc::Direction::to_prime);
  CHECK(changed.id() != id);
  CHECK(std::count(changed.output_keys().begin(), changed.output_keys().end(),
                   L3 + "experts_b.weight") == 1);

  // Inner shapes changed (every gate_proj [2, 5]), everything else listed as before.
  Entries reshaped = entries;
  for (auto& [key, tensor] : reshaped)
    if (key.find("gate_proj") != std::string::npos) tensor = counting({2, 5});
  const cc::Replay wider = chain.compile(refs_of(reshaped), cc::Direction::to_prime);
  CHECK(wider.id() != id);
  CHECK(chain.compile(refs_of(reshaped), cc::Direction::to_prime).id() == wider.id());
  CHECK(chain.compile(refs_of(entries), cc::Direction::to_prime).id() == id);
}

// A map listed the way the last call listed it is confirmed and gathered in one walk of the
// map itself (Listing::matches on a map): every check of the general look-up must hold there.
TEST_CASE(
    "a map converted again, listed as before, converts right, and a changed dtype in it is "
    "caught") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap prime;
  for (int round = 0; round < 4; ++round) {  // compiled, listed, then found by its listing
    const double start = 1000 * round;
    cc::TensorMap sd = hf_moe_layer(3, 0, 4, start);
    const at::Tensor norm = sd.at("model.layers.3.input_layernorm.weight");
    chain.to_prime(sd);
    REQUIRE(sd.size() == 5);
    for (int e = 0; e < 4; ++e) {
      CHECK(at::equal(sd.at(L3 + "experts.w1")[e], counting({2, 3}, start + 100 * e)));
      CHECK(at::equal(sd.at(L3 + "experts.w2")[e], counting({3, 2}, start + 100 * e + 10)));
      CHECK(at::equal(sd.at(L3 + "experts.w3")[e], counting({2, 3}, start + 100 * e + 20)));
    }
    CHECK(at::equal(sd.at(L3 + "router.gate.weight"), counting({4, 3}, start + 2000)));
    CHECK(sd.at("model.layers.3.input_layernorm.weight").is_same(norm));
    prime = sd;
  }
  for (int round = 0; round < 4; ++round) {  // and back, the same way
    cc::TensorMap sd = prime;
    chain.to_hf(sd);
    REQUIRE(sd.size() == 2 + 3 * 4);
    for (int e = 0; e < 4; ++e) {
      const std::string x = L3 + "experts." + std::to_string(e) + ".";
      CHECK(at::equal(sd.at(x + "gate_proj.weight"), counting({2, 3}, 3000 + 100 * e)));
      CHECK(at::equal(sd.at(x + "down_proj.weight"), counting({3, 2}, 3000 + 100 * e + 10)));
      CHECK(at::equal(sd.at(x + "up_proj.weight"), counting({2, 3}, 3000 + 100 * e + 20)));
    }
  }
  // The same keys, listed the same way, one expert's gate_proj in float64: refused as at
  // lowering (stacking would otherwise promote it silently), the dict left as it was.
  cc::TensorMap mixed = hf_moe_layer(3, 0, 4);
  mixed.at(L3 + "experts.2.gate_proj.weight") = counting({2, 3}, 200).to(at::kDouble);
  const std::vector<std::string> keys = keys_of(mixed);
  CHECK_THROWS_WITH(chain.to_prime(mixed), Catch::Contains("no silent casts"));
  CHECK(keys_of(mixed) == keys);
}

TEST_CASE("a dict converted to prime and back keeps its buckets: no shrink, no second rehash") {
  // 64 experts: to_prime leaves 5 of 194 entries, which std::unordered_map::reserve would
  // shrink the buckets for; back to HF the dict needs them all again.
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd = hf_moe_layer(0, 0, 64);
  const size_t buckets = sd.bucket_count();
  chain.to_prime(sd);
  REQUIRE(sd.size() == 5);
  CHECK(sd.bucket_count() == buckets);
  chain.to_hf(sd);
  REQUIRE(sd.size() == 2 + 3 * 64);
  CHECK(sd.bucket_count() == buckets);
}

// The cache holds the compiled conversions of the last 256 key sets it used, however they
// were found: a key set looked up by how it was listed counts as used, and one dropped is
// compiled anew, even if it was listed before (a remembered listing must not keep it alive).
TEST_CASE("the cache keeps the key sets last used, found by listing or not, and drops the rest") {
  const cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  auto compile = [&](int layer) {
    return chain.compile(hf_moe_layer(layer, 0, 2), cc::Direction::to_prime).id();
  };
  const uint64_t hot = compile(0);
  REQUIRE(compile(0) == hot);  // seen again: its listing is remembered
  const uint64_t cold = compile(1);
  REQUIRE(compile(1) == cold);
  for (int layer = 2; layer < 2 + 300; ++layer) {
    compile(layer);
    if (layer % 50 == 0) REQUIRE(compile(0) == hot);  // found by its listing: a use
  }
  CHECK(compile(0) == hot);
  CHECK(compile(1) != cold);  // 300 key sets later: dropped, listing and all
}
