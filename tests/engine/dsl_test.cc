// The chain file format: pieces, includes, and malformed files, each of which must give a
// clear error at the exact file:line:col.
#include <fstream>

#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

static const std::string kHead = "version: 1\nmodel_types: [test]\ndescription: test chain\n";

// "test.yaml:L:C" of the first occurrence of `needle` in `text` (1-based, as editors count).
static std::string pos_of(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  REQUIRE(at != std::string::npos);
  size_t line_start = text.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
  return "test.yaml:" + std::to_string(line) + ":" + std::to_string(at - line_start + 1) + ": ";
}

static std::string error_of(const std::string& text) {
  try {
    chain_from(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST_CASE("a YAML syntax error points at the line") {
  std::string text = kHead + "ops:\n  - rename: {from: a, to: b\n  - drop: {keys: c}\n";
  std::string err = error_of(text);
  CHECK_THAT(err, Catch::StartsWith("test.yaml:") && Catch::Contains("YAML syntax error"));
  CHECK_THAT(err, Catch::Contains("test.yaml:6:") || Catch::Contains("test.yaml:5:"));
}

TEST_CASE("an unknown op is named with its position and the known ops") {
  std::string text = kHead + "ops:\n  - rename: {from: a, to: b}\n  - renam: {from: a, to: b}\n";
  CHECK_THAT(error_of(text),
             Catch::StartsWith(pos_of(text, "renam:")) && Catch::Contains("unknown op 'renam'") &&
                 Catch::Contains("expected one of: concat, dequant_fp8_block, dequant_mxfp4, drop, if, map, permute, prefix_rename, rename"));
}

TEST_CASE("a missing field is named at its op") {
  std::string text = kHead + "ops:\n  - rename: {from: a}\n";
  CHECK_THAT(error_of(text), Catch::StartsWith(pos_of(text, "{from")) &&
                                 Catch::Contains("missing field 'to' in 'rename'"));
  std::string no_ops = kHead;
  CHECK_THAT(error_of(no_ops), Catch::Contains("missing field 'ops' in a chain file"));
  std::string no_description = "version: 1\nmodel_types: [x]\nops: []\n";
  CHECK_THAT(error_of(no_description), Catch::Contains("missing field 'description'"));
}

TEST_CASE("an unknown field is an error at that field") {
  std::string text = kHead + "ops:\n  - stack: {from: \"e.{expert}.w\", to: e.w, dimm: 1}\n";
  CHECK_THAT(error_of(text), Catch::StartsWith(pos_of(text, "dimm")) &&
                                 Catch::Contains("unknown field 'dimm' in 'stack'") &&
                                 Catch::Contains("expected one of: from, to, index, dim, offset"));
  std::string top = kHead + "opps: []\nops: []\n";
  CHECK_THAT(error_of(top),
             Catch::StartsWith(pos_of(top, "opps")) && Catch::Contains("unknown field 'opps'"));
}

TEST_CASE("wrong value kinds say what was expected") {
  std::string text = kHead + "ops:\n  - split: {from: a, into: [b, c], dim: one}\n";
  CHECK_THAT(error_of(text), Catch::StartsWith(pos_of(text, "one}")) &&
                                 Catch::Contains("expected an integer, found 'one'"));
  std::string list = kHead + "ops: {rename: {from: a, to: b}}\n";
  CHECK_THAT(error_of(list), Catch::Contains("expected a list of ops, found a mapping"));
  std::string version = "version: 2\n" + kHead.substr(11) + "ops: []\n";
  CHECK_THAT(error_of(version), Catch::StartsWith("test.yaml:1:10: ") &&
                                    Catch::Contains("unsupported chain format version 2"));
}

TEST_CASE("bad templates and unbound placeholders are errors at the template") {
  std::string text =
      kHead + "ops:\n  - rename: {from: \"a.{layer}\", to: \"b.{layer}.{expert}\"}\n";
  CHECK_THAT(error_of(text),
             Catch::StartsWith(pos_of(text, "\"b.")) &&
                 Catch::Contains(
                     "placeholder {expert} in 'b.{layer}.{expert}' is not bound by 'a.{layer}'"));
  std::string bad = kHead + "ops:\n  - drop: {prefix: \"mtp\"}\n";
  CHECK_THAT(error_of(bad),
             Catch::StartsWith(pos_of(bad, "\"mtp\"")) && Catch::Contains("must end with '.'"));
}

TEST_CASE("a duplicate key in a mapping is an error - not a silent pick") {
  std::string text = kHead + "ops:\n  - rename: {from: a, to: b, to: c}\n";
  CHECK_THAT(error_of(text),
             Catch::StartsWith(pos_of(text, "to: c")) && Catch::Contains("duplicate key 'to'"));
}

TEST_CASE("a value map whose backward does not undo forward must be declared lossy") {
  std::string text = kHead + "ops:\n  - map: {key: b, forward: subtract_min, backward: identity}\n";
  CHECK_THAT(error_of(text), Catch::StartsWith(pos_of(text, "{key")) &&
                                 Catch::Contains("declare the step with 'lossy:"));
  std::string unknown = kHead + "ops:\n  - map: {key: b, forward: square, backward: identity}\n";
  CHECK_THAT(error_of(unknown), Catch::StartsWith(pos_of(unknown, "square")) &&
                                    Catch::Contains("unknown transform 'square'"));
}

TEST_CASE("pieces take parameters - and their errors name the use site") {
  std::string good = kHead + R"(pieces:
  move:
    params: [src, dst]
    ops:
      - rename: {from: "${src}.{layer}.w", to: "${dst}.{layer}.w"}
ops:
  - use: move
    with: {src: a, dst: b}
  - use: move
    with: {src: c, dst: d}
)";
  auto chain = chain_from(good);
  StateDict sd{{"a.0.w", counting({1})}, {"c.1.w", counting({1})}};
  to_prime(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"b.0.w", "d.1.w"});
  to_hf(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"a.0.w", "c.1.w"});

  std::string undefined = kHead + "ops:\n  - use: mvoe\n";
  CHECK_THAT(error_of(undefined), Catch::StartsWith(pos_of(undefined, "mvoe")) &&
                                      Catch::Contains("undefined piece 'mvoe'"));

  std::string missing_param =
      good.substr(0, good.find("ops:\n  - use")) + "ops:\n  - use: move\n    with: {src: a}\n";
  CHECK_THAT(error_of(missing_param), Catch::Contains("piece 'move' needs parameter 'dst'"));

  std::string unknown_param = good.substr(0, good.find("ops:\n  - use")) +
                              "ops:\n  - use: move\n    with: {src: a, dst: b, dts: c}\n";
  CHECK_THAT(error_of(unknown_param), Catch::StartsWith(pos_of(unknown_param, "dts")) &&
                                          Catch::Contains("has no parameter 'dts'"));

  std::string typo = kHead + R"(pieces:
  move:
    params: [src]
    ops:
      - rename: {from: "${scr}.w", to: "x.w"}
ops:
  - use: move
    with: {src: a}
)";
  CHECK_THAT(error_of(typo),
             Catch::StartsWith(pos_of(typo, "\"${scr}")) &&
                 Catch::Contains("unknown piece parameter ${scr}") &&
                 Catch::Contains(
                     "used at " +
                     pos_of(typo, "use: move").substr(0, pos_of(typo, "use: move").size() - 2)));

  std::string outside = kHead + "ops:\n  - rename: {from: \"${x}.w\", to: y}\n";
  CHECK_THAT(error_of(outside), Catch::Contains("parameters exist only inside a piece"));

  std::string recursive =
      kHead + "pieces:\n  loop:\n    ops:\n      - use: loop\nops:\n  - use: loop\n";
  CHECK_THAT(error_of(recursive), Catch::Contains("piece 'loop' uses itself"));
}

TEST_CASE("includes bring pieces from shared files - a missing include is an error") {
  auto chain = chain_from(kHead + "include: [common/moe.yaml]\nops: []\n");
  CHECK(chain->includes.size() == 1);
  bool found = false;
  for (const auto& piece : chain->pieces) found |= piece.name == "routed_experts";
  CHECK(found);
  std::string missing = kHead + "include: [common/nope.yaml]\nops: []\n";
  CHECK_THAT(error_of(missing),
             Catch::StartsWith(pos_of(missing, "common/nope")) && Catch::Contains("no such file"));
}

TEST_CASE("loading a file that does not exist names it") {
  CHECK_THROWS_WITH(
      load_chain_file("/nonexistent/chain.yaml"),
      Catch::Contains("/nonexistent/chain.yaml") && Catch::Contains("cannot read chain file"));
}

TEST_CASE("a chain file is one document: a second one is an error at its start") {
  const std::string text = kHead + "ops:\n  - drop: {keys: a}\n---\nops:\n  - drop: {keys: b}\n";
  CHECK_THAT(error_of(text),
             Catch::StartsWith("test.yaml:6:1: ") && Catch::Contains("one YAML document"));
  // A document marker before the only document is just that.
  CHECK(error_of("---\n" + kHead + "ops: []\n") == "no error");
}

TEST_CASE("aliases of mappings and lists are refused before anything walks them") {
  // Nine levels of nine aliases each: 9^9 ops if expanded. Refused at the reused node.
  std::string text = kHead + "a0: &a0 {drop: {keys: x}}\n";
  for (int level = 1; level <= 9; ++level) {
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", *a" : "*a") + std::to_string(level - 1);
    text += "]\n";
  }
  text += "ops: *a9\n";
  CHECK_THAT(error_of(text),
             Catch::StartsWith(pos_of(text, "&a0 ")) && Catch::Contains("YAML alias"));
  // A list that contains itself.
  const std::string cycle = kHead + "ops: &a [*a]\n";
  CHECK_THAT(error_of(cycle), Catch::StartsWith(pos_of(cycle, "&a ")));
}

TEST_CASE("pieces that use pieces expand to a bounded number of ops") {
  // p1 uses p0 ten times, p2 uses p1 ten times, ...: p6 alone would be 10^6 drops.
  std::string text = kHead + "pieces:\n  p0:\n    ops:\n      - drop: {keys: x}\n";
  for (int level = 1; level <= 6; ++level) {
    text += "  p" + std::to_string(level) + ":\n    ops:\n";
    for (int i = 0; i < 10; ++i) text += "      - use: p" + std::to_string(level - 1) + "\n";
  }
  text += "ops:\n  - use: p6\n";
  CHECK_THAT(error_of(text), Catch::Contains("expands to more than 100000 ops"));
}

TEST_CASE("includes stay inside the chain's directory or the chains directory") {
  CHECK_THAT(error_of(kHead + "include: [/etc/passwd]\nops: []\n"),
             Catch::StartsWith("test.yaml:4:11: ") && Catch::Contains("a path relative to"));
  CHECK_THAT(error_of(kHead + "include: [../README.md]\nops: []\n"),
             Catch::StartsWith("test.yaml:4:11: ") && Catch::Contains("resolves outside"));
  const std::string long_name(300, 'x');
  CHECK_THAT(error_of(kHead + "include: [" + long_name + ".yaml]\nops: []\n"),
             Catch::StartsWith("test.yaml:4:11: ") && Catch::Contains("a name is too long"));
  // The shipped pieces are found from a chain anywhere.
  CHECK_NOTHROW(
      load_chain_string(kHead + "include: [common/moe.yaml]\nops: []\n", "mine.yaml", "/tmp"));
}
