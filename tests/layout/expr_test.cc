// The layout expression language on hostile input (found by tests/fuzz/layout_expr_fuzzer):
// integer overflow, floats no integer holds, nesting that would exhaust the stack, and
// ranges too large to build. Each is an Error naming the expression, never undefined
// behaviour, a crash or an allocation without end.
#include <catch2/catch.hpp>

#include <string>

#include "core/error.h"
#include "layout/expr.h"

using namespace chainconv;
using json = nlohmann::json;

namespace {

const json kVars = {{"big", INT64_MAX}, {"least", INT64_MIN}, {"huge", 18446744073709551615ull},
                    {"far", 1e300},     {"half", 0.5},        {"whole", 4.0}};

json eval(const std::string& text) {
  ExprEnv env;
  env.find = [](const std::string& name) -> const json* {
    return kVars.contains(name) ? &kVars[name] : nullptr;
  };
  env.describe_missing = [](const std::string& name) { return "no field '" + name + "'"; };
  return Expr::parse(text, "test").eval(env);
}

std::string error_of(const std::string& text) {
  try {
    eval(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("integer overflow in a layout expression is an error, not undefined behaviour") {
  for (const char* text : {"big + 1", "least - 1", "big * 2", "least * -1", "-least", "least // -1",
                           "least % -1", "ceil_div(big, 2)", "big + 1 - 1"}) {
    INFO(text);
    CHECK_THAT(error_of(text), Catch::Contains("integer overflow") &&
                                   Catch::Contains(std::string("'") + text + "'"));
  }
  // Python's floor division and modulo, also at the ends of the range.
  CHECK(eval("least // 3") == json(INT64_MIN / 3 - 1));
  CHECK(eval("least % 3") == json(1));
  CHECK(eval("-7 // 2") == json(-4));
  CHECK(eval("-7 % 2") == json(1));
  CHECK(eval("7 % -2") == json(-1));
  CHECK(eval("big - 1 + 1") == json(INT64_MAX));
}

TEST_CASE("numbers no int64 holds are refused where an integer is needed") {
  CHECK_THAT(error_of("far + 1"), Catch::Contains("expected an integer, found 1e+300"));
  CHECK_THAT(error_of("-far"), Catch::Contains("expected an integer"));
  CHECK_THAT(error_of("half * 2"), Catch::Contains("expected an integer, found 0.5"));
  CHECK_THAT(error_of("huge - 1"), Catch::Contains("integer 18446744073709551615 is too large"));
  CHECK(eval("whole * 2") == json(8));
}

TEST_CASE("a layout expression nested too deeply is refused before it exhausts the stack") {
  for (const std::string& text :
       {std::string(100'000, '(') + "1" + std::string(100'000, ')'),
        std::string(100'000, '[') + std::string(100'000, ']'), std::string(100'000, '-') + "1",
        [] {
          std::string s;
          for (int i = 0; i < 50'000; ++i) s += "not ";
          return s + "true";
        }(),
        [] {
          std::string s = "1";
          for (int i = 0; i < 50'000; ++i) s += " + 1";
          return s;
        }(),
        [] {
          std::string s;
          for (int i = 0; i < 50'000; ++i) s += "1 if true else ";
          return s + "0";
        }()}) {
    INFO(text.substr(0, 40));
    CHECK_THAT(error_of(text), Catch::Contains("nests deeper than 100 levels"));
  }
  CHECK(eval(std::string(50, '(') + "1" + std::string(50, ')')) == json(1));
}

TEST_CASE("a range too large to build is refused") {
  CHECK_THAT(error_of("range(big)"), Catch::Contains("has more than 1048576 elements"));
  CHECK_THAT(error_of("range(least, big)"), Catch::Contains("has more than 1048576 elements"));
  CHECK(eval("len(range(3, 7))") == json(4));
  CHECK(eval("len(range(7, 3))") == json(0));
}

TEST_CASE("a message quoting a string of invalid UTF-8 is still an Error") {
  // nlohmann's dump() throws its own type_error on such bytes, which escaped as a crash.
  CHECK_THAT(error_of("'\xf6' + 1"), Catch::Contains("expected an integer"));
  CHECK_THAT(error_of("len(3) + '\xff\xfe'"), Catch::Contains("len() of 3"));
  CHECK_THAT(error_of("'\xc3' in 3"), Catch::Contains("'in' needs a list"));
}
