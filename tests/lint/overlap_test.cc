// Template reasoning by hand-worked cases: can two templates name one key, and does one name
// every key the other does.
#include "check/template_overlap.h"
#include "support/support.h"

using namespace chainconv;

namespace {
KeyTemplate t(const std::string& text) {
  return KeyTemplate::compile(text, {}, !text.empty() && text.back() == '.');
}
}  // namespace

TEST_CASE("templates overlap when literals agree and placeholder types are compatible") {
  CHECK(may_overlap(t("m.layers.{layer}.w"), t("m.layers.3.w")));
  CHECK(may_overlap(t("m.layers.{layer}.w"), t("m.layers.{l}.w")));
  CHECK_FALSE(may_overlap(t("m.layers.{layer}.w"), t("m.layers.first.w")));  // digits only
  CHECK(may_overlap(t("m.layers.{name:segment}.w"), t("m.layers.first.w")));
  CHECK_FALSE(may_overlap(t("m.layers.{layer}.w"), t("m.layers.{layer}.v")));
  CHECK_FALSE(
      may_overlap(t("m.layers.{layer}.w"), t("m.layers.{layer}.w.x")));  // no substring matches
  CHECK(may_overlap(t("{p:path}.w"), t("m.layers.3.w")));
  CHECK_FALSE(may_overlap(t("{p:path}.w"), t("w")));  // a path is at least one segment
  CHECK(may_overlap(t("m."), t("m.layers.{layer}.w")));
  CHECK_FALSE(may_overlap(t("m."), t("m")));
  CHECK_FALSE(may_overlap(t("mtp."), t("m.layers.{layer}.w")));
}

TEST_CASE("a template covers another only when every key of one is a key of the other") {
  CHECK(covers(t("mtp."), t("mtp.layers.{layer}.norm.weight")));
  CHECK(covers(t("m.layers.{layer}.w"), t("m.layers.7.w")));
  CHECK_FALSE(covers(t("m.layers.7.w"), t("m.layers.{layer}.w")));
  CHECK(covers(t("m.{s:segment}.w"), t("m.{layer}.w")));
  CHECK_FALSE(covers(t("m.{layer}.w"), t("m.{s:segment}.w")));
  CHECK(covers(t("{p:path}.w"), t("a.{p:path}.w")));
  CHECK_FALSE(covers(t("a.{p:path}.w"), t("{p:path}.w")));
  CHECK_FALSE(covers(t("m.layers.{layer}.w"), t("m.")));
  CHECK(covers(t("m.layers."), t("m.layers.{layer}.")));
}
