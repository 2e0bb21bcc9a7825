// Helpers shared by the tests: small chains from strings, deterministic tensors, and
// readable comparisons.
#pragma once

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "aten/run.h"
#include "dsl/chain.h"
#include "support/tensors.h"

namespace chainconv::testing {

// A chain from YAML text; `name` appears in error positions.
inline std::unique_ptr<Chain> chain_from(const std::string& yaml,
                                         const std::string& name = "test.yaml") {
  return load_chain_string(yaml, name, CHAINCONV_SOURCE_DIR "/chains");
}

inline at::Tensor meta(std::vector<int64_t> shape, at::ScalarType dtype = at::kBFloat16) {
  return at::empty(shape, at::TensorOptions().dtype(dtype).device(at::kMeta));
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return natural_less(a, b); });
  return v;
}

// Same keys, and each tensor equal in dtype, shape and value.
inline void require_same(const StateDict& actual, const StateDict& expected) {
  REQUIRE(actual.keys() == expected.keys());
  for (const auto& key : expected.keys()) {
    INFO("key " << key);
    const at::Tensor& a = actual.at(key);
    const at::Tensor& e = expected.at(key);
    REQUIRE(a.scalar_type() == e.scalar_type());
    REQUIRE(a.sizes() == e.sizes());
    if (!a.is_meta()) REQUIRE(at::equal(a, e));
  }
}

// Copies the dict so a later in-place conversion cannot alias the original's storage.
inline StateDict clone(const StateDict& dict) {
  StateDict copy;
  for (const auto& [key, item] : dict)
    copy.set(key,
             Item{item.tensor.is_meta() ? item.tensor : item.tensor.clone(), item.opaque_dtype});
  return copy;
}

}  // namespace chainconv::testing
