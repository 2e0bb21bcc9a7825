#include "core/key_template.h"

#include "core/text.h"
#include "support/support.h"

using namespace chainconv;

static KeyTemplate tmpl(const std::string& text, bool prefix = false) {
  return KeyTemplate::compile(text, Position{"t.yaml", 3, 7}, prefix);
}

TEST_CASE("a template matches whole keys and binds digit placeholders") {
  KeyTemplate t = tmpl("model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight");
  Bindings b;
  REQUIRE(t.match("model.layers.12.mlp.experts.3.gate_proj.weight", {}, &b));
  CHECK(*b.get("layer") == "12");
  CHECK(*b.get("expert") == "3");
  // Anchored at both ends: no substring matches, ever.
  CHECK_FALSE(t.match("model.layers.12.mlp.experts.3.gate_proj.weight_scale_inv", {}));
  CHECK_FALSE(t.match("x.model.layers.12.mlp.experts.3.gate_proj.weight", {}));
  // {layer} is one segment of digits.
  CHECK_FALSE(t.match("model.layers.a.mlp.experts.3.gate_proj.weight", {}));
  CHECK_FALSE(t.match("model.layers.1.2.mlp.experts.3.gate_proj.weight", {}));
  CHECK(t.expand(b) == "model.layers.12.mlp.experts.3.gate_proj.weight");
}

TEST_CASE("fixed bindings restrict a match") {
  KeyTemplate t = tmpl("model.layers.{layer}.mlp.gate.weight");
  Bindings fixed;
  fixed.set("layer", "2");
  CHECK(t.match("model.layers.2.mlp.gate.weight", fixed));
  CHECK_FALSE(t.match("model.layers.3.mlp.gate.weight", fixed));
  CHECK(t.literal_prefix(fixed) == "model.layers.2.mlp.gate.weight");
  CHECK(t.literal_prefix({}) == "model.layers.");
}

TEST_CASE("segment and path placeholders") {
  KeyTemplate seg = tmpl("a.{name:segment}.b");
  Bindings b;
  REQUIRE(seg.match("a.gate_proj.b", {}, &b));
  CHECK(*b.get("name") == "gate_proj");
  CHECK_FALSE(seg.match("a.x.y.b", {}));

  KeyTemplate path = tmpl("{root:path}.layers.{layer}.w");
  REQUIRE(path.match("model.language_model.layers.4.w", {}, &b));
  CHECK(*b.get("root") == "model.language_model");
  CHECK(*b.get("layer") == "4");
  CHECK_FALSE(path.match(".layers.4.w", {}));
}

TEST_CASE("a prefix template keeps the rest of the key") {
  KeyTemplate p = tmpl("backbone.layers.{layer}.mixer.", true);
  Bindings b;
  std::string rest;
  REQUIRE(p.match("backbone.layers.7.mixer.conv1d.weight", {}, &b, &rest));
  CHECK(rest == "conv1d.weight");
  CHECK(p.expand(b, rest) == "backbone.layers.7.mixer.conv1d.weight");
  CHECK_FALSE(p.match("backbone.layers.7.mixer_x.conv1d.weight", {}));
  CHECK_FALSE(p.match("backbone.layers.7.mixer.", {}));
}

TEST_CASE("matches() returns only matching keys - from the key index") {
  KeyIndex index;
  uint32_t slot = 0;
  for (const char* k :
       {"model.layers.0.mlp.gate.weight", "model.layers.10.mlp.gate.weight",
        "model.layers.2.mlp.gate.weight", "model.layers.2.mlp.gate.bias", "lm_head.weight"})
    index.emplace(k, slot++);
  auto found = tmpl("model.layers.{layer}.mlp.gate.weight").matches(index, {});
  REQUIRE(found.size() == 3);
  CHECK(found[0].key == "model.layers.0.mlp.gate.weight");
  CHECK(found[0].slot == 0);
  CHECK(found[1].key == "model.layers.10.mlp.gate.weight");  // lexicographic, as the index is
  CHECK(found[2].slot == 2);
}

TEST_CASE("malformed templates are errors at their position") {
  auto error_of = [](const std::string& text, bool prefix = false) {
    try {
      tmpl(text, prefix);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("a.b{layer}.c"),
             Catch::Contains("t.yaml:3:7") && Catch::Contains("whole dotted segment"));
  CHECK_THAT(error_of("a.{layer}.{layer}"), Catch::Contains("appears twice"));
  CHECK_THAT(error_of("a.{layer.b"), Catch::Contains("never closed"));
  CHECK_THAT(error_of("a.{x:float}"), Catch::Contains("unknown placeholder type 'float'"));
  CHECK_THAT(error_of("a.{Layer}"), Catch::Contains("must match"));
  CHECK_THAT(error_of("mixer", true), Catch::Contains("must end with '.'"));
  CHECK_THAT(error_of("a..b"), Catch::Contains("empty segment"));
}

TEST_CASE("natural order compares digit runs as numbers") {
  CHECK(natural_less("layers.2.w", "layers.10.w"));
  CHECK_FALSE(natural_less("layers.10.w", "layers.2.w"));
  CHECK(natural_less("a", "b"));
  CHECK(natural_less("layers.2", "layers.2.w"));
  CHECK_FALSE(natural_less("x", "x"));
}

TEST_CASE("matches() binds each hit's placeholders and a prefix template's rest") {
  KeyIndex index;
  uint32_t slot = 0;
  for (const char* k : {"backbone.layers.3.mixer.A_log", "backbone.layers.3.mixer.conv1d.weight",
                        "backbone.layers.4.mixer.D", "backbone.layers.3.norm.weight"})
    index.emplace(k, slot++);
  Bindings layer;
  layer.set("layer", "3");
  auto found = tmpl("backbone.layers.{layer}.mixer.", true).matches(index, layer);
  REQUIRE(found.size() == 2);
  CHECK(found[0].rest == "A_log");
  CHECK(found[1].rest == "conv1d.weight");
  CHECK(found[1].slot == 1);
  CHECK(found[1].bindings.str() == "layer=3");
  auto all = tmpl("backbone.layers.{layer}.{part:segment}.", true).matches(index, {});
  REQUIRE(all.size() == 4);
  CHECK(all[2].bindings.str() == "layer=3 part=norm");
  CHECK(all[3].bindings.str() == "layer=4 part=mixer");
  CHECK(all[3].rest == "D");
  // A {path} template matches through its regex, with the same results.
  auto paths = tmpl("{root:path}.layers.{layer}.mixer.D").matches(index, {});
  REQUIRE(paths.size() == 1);
  CHECK(paths[0].bindings.str() == "root=backbone layer=4");
  CHECK(paths[0].slot == 2);
}

TEST_CASE("expand_around gives the text either side of one placeholder") {
  KeyTemplate t = tmpl("model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight");
  Bindings b;
  b.set("layer", "7");
  auto [before, after] = t.expand_around(b, "expert");
  CHECK(before == "model.layers.7.mlp.experts.");
  CHECK(after == ".gate_proj.weight");
  CHECK_THROWS_WITH(t.expand_around(b, "layer"),
                    Catch::Contains("{expert}") && Catch::Contains("not bound"));
  b.set("expert", "1");
  CHECK_THROWS_WITH(t.expand_around(b, "row"), Catch::Contains("no placeholder {row}"));
}

TEST_CASE("match_views gives each hit's values as views - bound ones included") {
  KeyIndex index;
  uint32_t slot = 0;
  for (const char* k : {"model.layers.1.mlp.experts.0.gate_proj.weight",
                        "model.layers.1.mlp.experts.0.up_proj.weight",
                        "model.layers.1.mlp.experts.10.gate_proj.weight",
                        "model.layers.1.mlp.experts.2.gate_proj.weight",
                        "model.layers.1.mlp.experts.x.gate_proj.weight",
                        "model.layers.2.mlp.experts.0.gate_proj.weight"})
    index.emplace(k, slot++);
  const KeyTemplate t = tmpl("model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight");
  Bindings layer;
  layer.set("layer", "1");
  const std::vector<KeyMatch> found = t.match_views(index, layer);
  REQUIRE(found.size() == 3);  // not up_proj, not the non-digit expert, not layer 2
  CHECK(found[0].key() == "model.layers.1.mlp.experts.0.gate_proj.weight");
  CHECK(found[1].slot() == 2);
  CHECK(found[1].values[0] == "1");
  CHECK(found[1].values[1] == "10");
  CHECK(found[2].values[1] == "2");
  CHECK(t.placeholder_index("expert") == 1);
  CHECK(t.placeholder_index("nope") == -1);
  CHECK(t.bindings_of(found[2], layer).str() == "layer=1 expert=2");
  // Unscoped: every layer, each with its bindings; matches() binds the same.
  const std::vector<KeyMatch> all = t.match_views(index, {});
  const std::vector<TemplateMatch> bound = t.matches(index, {});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"model.layers.1.mlp.experts.0.gate_proj.weight", "layer=1 expert=0"},
      {"model.layers.1.mlp.experts.10.gate_proj.weight", "layer=1 expert=10"},
      {"model.layers.1.mlp.experts.2.gate_proj.weight", "layer=1 expert=2"},
      {"model.layers.2.mlp.experts.0.gate_proj.weight", "layer=2 expert=0"}};
  REQUIRE(all.size() == expected.size());
  REQUIRE(bound.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(all[i].key() == expected[i].first);
    CHECK(t.bindings_of(all[i], {}).str() == expected[i].second);
    CHECK(bound[i].key == expected[i].first);
    CHECK(bound[i].bindings.str() == expected[i].second);
  }
  // A {path} template's values come from its regex.
  const KeyTemplate path = tmpl("{root:path}.experts.{expert}.up_proj.weight");
  const std::vector<KeyMatch> paths = path.match_views(index, {});
  REQUIRE(paths.size() == 1);
  CHECK(paths[0].values[0] == "model.layers.1.mlp");
  CHECK(paths[0].values[1] == "0");
}

TEST_CASE("a scan stops at the last key sharing the literal prefix") {
  // The keys right after the prefix's range (the next character up) never match, and keys
  // with bytes above ASCII still sort where they belong.
  KeyIndex index;
  uint32_t slot = 0;
  for (const char* k : {"a.b.1", "a.b.2", "a.c.1", "a.b\xff.1", "a.b.\xff", "a/b.1"})
    index.emplace(k, slot++);
  auto keys = [](const std::vector<TemplateMatch>& found) {
    std::vector<std::string> out;
    for (const TemplateMatch& m : found) out.emplace_back(m.key);
    return out;
  };
  CHECK(keys(tmpl("a.b.{i}").matches(index, {})) == std::vector<std::string>{"a.b.1", "a.b.2"});
  CHECK(keys(tmpl("a.{x:segment}.1").matches(index, {})) ==
        std::vector<std::string>{"a.b.1", "a.b\xff.1", "a.c.1"});
  CHECK(keys(tmpl("a.b.", true).matches(index, {})) ==
        std::vector<std::string>{"a.b.1", "a.b.2", "a.b.\xff"});
}
