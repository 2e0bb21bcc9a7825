// Layout files as chainlint sees them: which files are layouts, the layout schema (what the
// validator embeds, the dtypes it allows, its documentation), the corpus of bad layouts in
// tests/lint/bad_layouts/ (each file lists its findings by hand, as tests/lint/bad/ does),
// and every shipped layout clean and evaluated on its configs.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "check/layout_lint.h"
#include "check/schema.h"
#include "core/dtypes.h"
#include "support/support.h"

using namespace chainconv;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> expectations(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  const std::string tag = "# expect: ";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(tag, 0) == 0) out.push_back(line.substr(tag.size()));
  return out;
}

std::string render(const Finding& f, const std::string& file) {
  std::string shown = std::to_string(f.pos.line) + ":" + std::to_string(f.pos.col) + ": " +
                      std::string(severity_name(f.severity)) + ": " + f.message + " [" + f.check +
                      "]";
  if (f.pos.file == file) return shown;
  return fs::path(f.pos.file).lexically_relative(fs::path(file).parent_path()).string() + ":" +
         shown;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "chainconv-layout-lint-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::vector<std::string> problems(const std::string& path) {
  std::vector<std::string> out;
  for (const Finding& f : lint_layout_file(path))
    if (f.severity != Severity::note) out.push_back(f.str());
  return out;
}

}  // namespace

TEST_CASE("a file is a layout under a layouts/ directory or by its top-level fields") {
  CHECK(is_layout_file("chains/layouts/qwen3_moe.yaml"));
  CHECK(is_layout_file("chains/layouts/common/blocks.yaml"));
  CHECK_FALSE(is_layout_file("chains/qwen3_moe.yaml"));
  CHECK_FALSE(is_layout_file("chains/common/moe.yaml"));  // pieces: a chain's include

  TempDir tmp;
  write(tmp.path / "mine/model.yaml", "model_types: [x]\ntensors: []\n");
  write(tmp.path / "mine/blocks.yaml", "blocks: {}\n");
  write(tmp.path / "mine/chain.yaml", "model_types: [x]\ntensors: []\nops: []\n");
  write(tmp.path / "mine/pieces.yaml", "blocks: {}\npieces: {}\n");
  write(tmp.path / "mine/broken.yaml", "tensors: [\n");
  write(tmp.path / "layouts/anything.yaml", "version: 1\nops: []\n");
  CHECK(is_layout_file((tmp.path / "mine/model.yaml").string()));
  CHECK(is_layout_file((tmp.path / "mine/blocks.yaml").string()));
  CHECK_FALSE(is_layout_file((tmp.path / "mine/chain.yaml").string()));
  CHECK_FALSE(is_layout_file((tmp.path / "mine/pieces.yaml").string()));
  CHECK_FALSE(is_layout_file((tmp.path / "mine/broken.yaml").string()));  // the chain lint says why
  CHECK(is_layout_file((tmp.path / "layouts/anything.yaml").string()));   // the directory decides
  CHECK_THROWS_AS(is_layout_file((tmp.path / "mine/none.yaml").string()), Error);
}

TEST_CASE("the validator embeds schema/layout.schema.json as it is on disk") {
  std::ifstream in(CHAINCONV_SOURCE_DIR "/schema/layout.schema.json");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(json::parse(text.str()) == SchemaValidator::layout().schema());
}

TEST_CASE("the layout schema allows exactly the dtypes the engine has") {
  std::set<std::string> schema, engine;
  for (const json& name : SchemaValidator::layout().at("/$defs/dtype")["anyOf"][0]["enum"])
    schema.insert(name.get<std::string>());
  for (const DtypeInfo& d : all_dtypes()) engine.insert(std::string(d.name));
  CHECK(schema == engine);
  CHECK(engine.count("F8_E4M3") == 1);
}

TEST_CASE("every element and field of the layout schema is documented for editors") {
  for (const char* def : {"layout_file", "tensor", "loop", "use", "fail", "group", "branches",
                          "block", "included_file"}) {
    INFO(def);
    const json& schema = SchemaValidator::layout().at(std::string("/$defs/") + def);
    CHECK(schema.contains("description"));
    for (const auto& [field, sub] : schema["properties"].items()) {
      INFO(field);
      const json& target =
          sub.contains("$ref")
              ? SchemaValidator::layout().at(sub["$ref"].get<std::string>().substr(1))
              : sub;
      CHECK((sub.contains("description") || target.contains("description") ||
             target.contains("title")));
    }
  }
}

TEST_CASE("every bad layout in the corpus gives exactly its expected findings") {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator("tests/lint/bad_layouts"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 10);
  for (const std::string& path : files) {
    DYNAMIC_SECTION(path) {
      CHECK(is_layout_file(path));
      std::vector<std::string> expected = expectations(path);
      REQUIRE_FALSE(expected.empty());
      std::vector<std::string> actual;
      for (const Finding& f : lint_layout_file(path))
        if (f.severity != Severity::note) actual.push_back(render(f, path));
      CHECK(actual == expected);
    }
  }
}

TEST_CASE("every shipped layout and block file lints clean, evaluated on its configs") {
  size_t layouts = 0;
  for (const char* dir : {"chains/layouts", "chains/layouts/common"})
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".yaml") continue;
      INFO(entry.path().string());
      ++layouts;
      std::vector<Finding> findings = lint_layout_file(entry.path().string());
      std::vector<std::string> all;
      for (const Finding& f : findings) all.push_back(f.str());
      // Not even a note: each model type has its configs beside its layout.
      CHECK(all == std::vector<std::string>{});
    }
  CHECK(layouts >= 11);
}

TEST_CASE("a layout that fails on its own config is reported at the failing line") {
  TempDir tmp;
  write(tmp.path / "toy.yaml",
        "model_types: [toy]\n"
        "fused_experts: true\n"
        "dtype: BF16\n"
        "tensors:\n"
        "  - {key: a, shape: [hidden_size]}\n"
        "  - {fail: \"no fused toy\", if: fused}\n");
  const std::string file = (tmp.path / "toy.yaml").string();
  // No config beside it: only a note says it was not evaluated.
  std::vector<Finding> alone = lint_layout_file(file);
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].severity == Severity::note);
  CHECK_THAT(alone[0].message, Catch::Contains("no toy.config.json beside the layout"));

  write(tmp.path / "toy.config.json", R"({"model_type": "toy", "hidden_size": 4})");
  write(tmp.path / "toy.full.config.json", R"({"model_type": "toy"})");
  std::vector<std::string> found = problems(file);
  const std::string tiny = (tmp.path / "toy.config.json").string();
  const std::string full = (tmp.path / "toy.full.config.json").string();
  // Tiny: per expert fine, fused fails where the layout says; full size: the tensor on line 5
  // needs a field the config lacks, per expert and fused.
  const std::string missing =
      ": config.json has no field 'hidden_size' (nor a layout variable of that name) "
      "(in 'hidden_size') [layout]";
  CHECK(found ==
        std::vector<std::string>{
            file + ":5:22: error: on " + full + missing,
            file + ":5:22: error: on " + full + " (fused experts)" + missing,
            file + ":6:12: error: on " + tiny +
                " (fused experts): this config cannot be laid out: no fused toy [layout]"});
}
