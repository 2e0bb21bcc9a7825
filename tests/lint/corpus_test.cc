// The corpus of bad chains: each file in tests/lint/bad/ starts with the findings it must
// produce, written by hand as "# expect: [FILE:]LINE:COL: SEVERITY: MESSAGE [CHECK]". The
// lint must report exactly those errors and warnings (notes aside), at exactly those places.
#include <filesystem>
#include <fstream>

#include "check/lint.h"
#include "support/support.h"

using namespace chainconv;
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

// "LINE:COL: severity: message [check]", prefixed with the file (relative to the chain's
// directory) when the finding is in another file, an include.
std::string render(const Finding& f, const std::string& chain) {
  std::string shown = std::to_string(f.pos.line) + ":" + std::to_string(f.pos.col) + ": " +
                      std::string(severity_name(f.severity)) + ": " + f.message + " [" + f.check +
                      "]";
  if (f.pos.file == chain) return shown;
  return fs::path(f.pos.file).lexically_relative(fs::path(chain).parent_path()).string() + ":" +
         shown;
}

}  // namespace

TEST_CASE("every bad chain in the corpus gives exactly its expected findings") {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator("tests/lint/bad"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 25);
  for (const std::string& path : files) {
    DYNAMIC_SECTION(path) {
      std::vector<std::string> expected = expectations(path);
      REQUIRE_FALSE(expected.empty());
      std::vector<std::string> actual;
      for (const Finding& f : lint_file(path))
        if (f.severity != Severity::note) actual.push_back(render(f, path));
      CHECK(actual == expected);
    }
  }
}

TEST_CASE("an unreadable chain file is an Error rather than a finding") {
  CHECK_THROWS_AS(lint_file("tests/lint/bad/no_such_file.yaml"), Error);
  CHECK_THROWS_AS(lint_file("tests/lint/bad"), Error);
}

TEST_CASE("the chains shipped in chains/ lint clean") {
  for (const auto& entry : fs::directory_iterator("chains")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    std::vector<std::string> problems;
    for (const Finding& f : lint_file(entry.path().string()))
      if (f.severity != Severity::note) problems.push_back(f.str());
    CHECK(problems == std::vector<std::string>{});
  }
}
