#include "aten/state_dict.h"

#include "core/error.h"
#include "support/support.h"

using namespace chainconv;

TEST_CASE("state dict keys come out in natural order") {
  StateDict sd{
      {"layers.10.w", at::zeros({1})}, {"layers.2.w", at::zeros({1})}, {"embed", at::zeros({1})}};
  CHECK(sd.keys() == std::vector<std::string>{"embed", "layers.2.w", "layers.10.w"});
}

TEST_CASE("state dict refuses to overwrite and names missing keys") {
  StateDict sd{{"a", at::zeros({1})}};
  CHECK_THROWS_WITH(sd.insert("a", at::ones({1})), Catch::Contains("'a' already exists"));
  CHECK_THROWS_WITH(sd.take("b"), Catch::Contains("no key 'b'"));
  CHECK(sd.take("a").tensor.numel() == 1);
  CHECK(sd.empty());
}

TEST_CASE("prefix queries see only keys with the prefix") {
  StateDict sd{{"a.1", at::zeros({1})},
               {"a.2", at::zeros({1})},
               {"ab", at::zeros({1})},
               {"b", at::zeros({1})}};
  CHECK(sd.keys_with_prefix("a.") == std::vector<std::string>{"a.1", "a.2"});
}
