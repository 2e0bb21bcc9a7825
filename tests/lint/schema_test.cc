// The schema is the single source of truth for the chain format: it must name exactly the
// ops, predicates and transforms the engine implements, document them, accept everything the
// engine accepts, and be what the validator embeds.
#include <fstream>
#include <set>
#include <sstream>

#include "check/lint.h"
#include "check/schema.h"
#include "ops/predicate.h"
#include "ops/registry.h"
#include "ops/transforms.h"
#include "support/support.h"

using namespace chainconv;
using json = nlohmann::json;

namespace {

const json& resolve(const json& s) {
  if (!s.contains("$ref")) return s;
  return SchemaValidator::chain().at(s["$ref"].get<std::string>().substr(1));
}

// The key that introduces each alternative of an op or predicate union.
std::set<std::string> union_keys(const std::string& pointer) {
  std::set<std::string> names;
  for (const json& alt : SchemaValidator::chain().at(pointer)["anyOf"])
    names.insert(resolve(alt)["required"][0]);
  return names;
}

template <typename List, typename Name>
std::set<std::string> names_of(const List& list, Name name) {
  std::set<std::string> out;
  for (const auto& item : list) out.insert(std::string(name(item)));
  return out;
}

std::vector<std::string> lint(const std::string& text) {
  std::vector<std::string> out;
  for (const Finding& f : lint_text(text, "t.yaml", CHAINCONV_SOURCE_DIR "/chains"))
    out.push_back(std::to_string(f.pos.line) + ":" + std::to_string(f.pos.col) + ": " + f.message);
  return out;
}

}  // namespace

TEST_CASE("the schema names exactly the ops the engine registers") {
  auto engine = names_of(op_kinds(), [](const OpKind& k) { return k.name; });
  CHECK(union_keys("/$defs/op") == engine);
  CHECK(engine.size() == 18);  // issue 14 added five shape ops and two dequantizing ones, issue 15 renumber
}

TEST_CASE("the schema names exactly the predicates and transforms the engine has") {
  CHECK(union_keys("/$defs/predicate") ==
        names_of(predicate_kinds(), [](std::string_view k) { return k; }));
  std::set<std::string> schema_transforms;
  for (const json& alt : SchemaValidator::chain().at("/$defs/transform")["oneOf"])
    schema_transforms.insert(alt["const"].get<std::string>());
  std::set<std::string> map_transforms;
  for (const Transform& t : transforms())
    if (t.for_map) map_transforms.insert(std::string(t.name));
  CHECK(schema_transforms == map_transforms);
  CHECK(schema_transforms == std::set<std::string>{"identity", "negate", "subtract_min"});
}

TEST_CASE("every op and every op field carries a description for editor hover docs") {
  for (const json& alt : SchemaValidator::chain().at("/$defs/op")["anyOf"]) {
    const json& op = resolve(alt);
    std::string kind = op["required"][0];
    INFO("op " << kind);
    const json& args = op["properties"][kind];
    CHECK((args.contains("description") || resolve(args).contains("description")));
    const json& body = resolve(args);
    if (!body.contains("properties")) continue;  // use: a piece name
    for (const auto& [field, schema] : body["properties"].items()) {
      INFO("field " << field);
      CHECK((schema.contains("description") || resolve(schema).contains("description")));
    }
  }
}

TEST_CASE("the validator embeds schema/chain.schema.json as it is on disk") {
  std::ifstream in(CHAINCONV_SOURCE_DIR "/schema/chain.schema.json");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(json::parse(text.str()) == SchemaValidator::chain().schema());
}

TEST_CASE("a schema keyword the validator does not implement is refused") {
  CHECK_THROWS_WITH(
      SchemaValidator(json::parse(R"({"type": "object", "if": {"required": ["a"]}})")),
      Catch::Contains("keyword 'if'"));
  CHECK_NOTHROW(SchemaValidator(json::parse(R"({"type": "object", "description": "x"})")));
}

TEST_CASE("a chain using every op field and predicate passes the schema and compiles") {
  const std::string text = R"(version: 1
model_types: [test]
description: every field
expect_converted: ["m.layers.{layer}.experts.{expert}.up_proj.weight"]
pieces:
  moved:
    doc: moves ${what}
    params: [what, dim]
    ops:
      - rename: {from: ["${what}.a", "${what}.alt"], to: "${what}.b"}
      - split: {from: "${what}.fused", into: ["${what}.x", "${what}.y"], dim: "${dim}", sizes: [2, 2]}
ops:
  - prefix_rename: {from: "backbone.", to: "model."}
  - drop: {keys: [mtp.w, mtp.v], prefix: ["extra.", "more."], when: to_prime}
  - stack: {from: "m.layers.{layer}.experts.{expert}.up_proj.weight", to: "m.layers.{layer}.w3", index: expert, dim: 0, offset: none}
  - if:
      all:
        - any: [{present: "m.layers.{layer}.q"}, {absent: "m.layers.{layer}.k"}]
        - not: {ndim: {key: "m.layers.{layer}.q", is: 2}}
        - size: {key: "m.layers.{layer}.q", dim: -1, is: 8}
    then:
      - map: {key: "m.layers.{layer}.bias", forward: subtract_min, backward: identity, lossy: shifted}
    else:
      - map: {key: "m.layers.{layer}.sign", forward: negate, backward: negate}
    for_each: [layer]
  - synthetic: {key: "m.layers.{layer}.w2", like: "m.layers.{layer}.w3", shape: [0, 4]}
  - squeeze_leading: {key: "m.layers.{layer}.shared", ndim: 3}
  - use: moved
    with: {what: "m.layers.{layer}.p", dim: 1}
)";
  CHECK(lint(text) == std::vector<std::string>{});
  auto chain = testing::chain_from(text, "t.yaml");
  CHECK(chain->ops.size() == 7);
  REQUIRE(chain->expect_converted.size() == 1);
  CHECK(chain->expect_converted[0].pos().line == 4);
}

TEST_CASE("scalars are typed as YAML types them: a quoted number is a string") {
  CHECK(lint("version: \"1\"\nmodel_types: [t]\ndescription: d\nops: []\n") ==
        std::vector<std::string>{"1:10: expected format version 1, found '1'"});
}

TEST_CASE("an empty value is reported at its key") {
  CHECK(lint("version: 1\nmodel_types: [t]\ndescription: d\nops:\n") ==
        std::vector<std::string>{"4:1: expected a list of ops (a list), found nothing"});
}

TEST_CASE("an empty file and a list are not chain files") {
  CHECK(lint("") ==
        std::vector<std::string>{"1:1: expected a chain file (a mapping), found nothing"});
  CHECK(lint("- a\n") ==
        std::vector<std::string>{"1:1: expected a chain file (a mapping), found a list of 1"});
}

TEST_CASE("a file without ops or model_types is checked as an included file") {
  CHECK(lint("version: 1\ndescription: lib\npieces:\n  p:\n    ops: []\n") ==
        std::vector<std::string>{});
  CHECK(lint("version: 1\ndescription: lib\nextra: 1\n") ==
        std::vector<std::string>{"3:1: unknown field 'extra' in an included file (expected one of: "
                                 "description, include, pieces, version)"});
}

TEST_CASE("a stack dim and split sizes may be piece parameters but not other words") {
  std::string head = "version: 1\nmodel_types: [t]\ndescription: d\nops:\n";
  CHECK(lint(head + "  - split: {from: a.f, into: [a.x, a.y], sizes: [0, 2]}\n") ==
        std::vector<std::string>{"5:50: expected a positive size, found '0'"});
  CHECK(lint(head + "  - stack: {from: \"e.{expert}.w\", to: e.w, dim: \"${d}\"}\n").size() ==
        1);  // outside a piece
}
