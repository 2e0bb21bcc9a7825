// The CLI's size arguments (tools/chainconv/size_arg.h); expectations by hand.
#include "chainconv/size_arg.h"
#include "support/support.h"

using chainconv::cli::parse_size;

TEST_CASE("sizes parse with decimal and binary units") {
  CHECK(parse_size("5GB") == 5'000'000'000ull);
  CHECK(parse_size("500MB") == 500'000'000ull);
  CHECK(parse_size("2GiB") == 2ull << 30);
  CHECK(parse_size("10kb") == 10'000ull);
  CHECK(parse_size("1234") == 1234ull);
  CHECK(parse_size("7B") == 7ull);
  CHECK_THROWS_WITH(parse_size("5 GB"), Catch::Contains("invalid size '5 GB'"));
  CHECK_THROWS_WITH(parse_size("GB"), Catch::Contains("invalid size"));
  CHECK_THROWS_WITH(parse_size("0"), Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(parse_size("5XB"), Catch::Contains("invalid size"));
}
