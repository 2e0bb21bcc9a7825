// Hostile input and faults at the library level: headers and indexes built to crash a
// parser or to smuggle bytes past the checks, files that are not files, a source shard that
// shrinks under --verify, and a cancellation that arrives during the final flush.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/convert.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// `[[[...[1]...]]]`, `depth` brackets deep.
std::string nested_list(size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

// A test that would block forever without the fix fails instead: SIGALRM ends the process.
struct Deadline {
  explicit Deadline(unsigned seconds) { alarm(seconds); }
  ~Deadline() { alarm(0); }
};

ConvertOptions to_prime() {
  ConvertOptions o;
  o.direction = Direction::to_prime;
  return o;
}

}  // namespace

TEST_CASE("a safetensors header nested 100,000 deep is refused, not a stack overflow") {
  Scratch s;
  const std::string path = s / "model.safetensors";
  write_raw_safetensors(
      path, R"({"a":{"dtype":"F32","shape":)" + nested_list(100'000) + R"(,"data_offsets":[0,4]}})",
      std::string(4, '\0'));
  const std::string error = error_of([&] { Checkpoint::open(s.path()); });
  CHECK_THAT(error, Catch::StartsWith(path) && Catch::Contains("nests deeper than 64 levels"));
  // Just within the bound, the header is read and the entry refused on its merits.
  write_raw_safetensors(
      path, R"({"a":{"dtype":"F32","shape":)" + nested_list(60) + R"(,"data_offsets":[0,4]}})",
      std::string(4, '\0'));
  CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
             Catch::Contains("tensor 'a'") && Catch::Contains("non-negative integer"));
}

TEST_CASE("an index or config.json nested 100,000 deep is refused") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  SECTION("the index") {
    write_text(s / "src/model.safetensors.index.json",
               R"({"weight_map": {}, "metadata": )" + nested_list(100'000) + "}");
    CHECK_THAT(error_of([&] { Checkpoint::open(s / "src"); }),
               Catch::StartsWith(s / "src/model.safetensors.index.json") &&
                   Catch::Contains("nests deeper"));
  }
  SECTION("config.json") {
    write_text(s / "src/config.json",
               R"({"model_type": "qwen3_moe", "x": )" + nested_list(100'000) + "}");
    CHECK_THAT(error_of([&] { read_model_type(s / "src"); }),
               Catch::StartsWith(s / "src/config.json") && Catch::Contains("nests deeper"));
  }
}

TEST_CASE("a tensor named twice in a header is refused, naming file and tensor") {
  Scratch s;
  const std::string path = s / "model.safetensors";
  // The second 'a' would silently win and the first 4 bytes would belong to no tensor.
  write_raw_safetensors(path,
                        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                        std::string(12, '\0'));
  CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
             Catch::StartsWith(path) && Catch::Contains("tensor 'a' twice"));
}

TEST_CASE("an index naming one tensor twice is refused") {
  Scratch s;
  write_state_dict(s.path(), qwen3_moe_dict(2, 2), /*max_shard_size=*/600);
  const std::string index = s / "model.safetensors.index.json";
  write_text(index, R"({"weight_map": {"model.norm.weight": "model-00001-of-00004.safetensors",)"
                    R"( "model.norm.weight": "model-00002-of-00004.safetensors"}})");
  CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
             Catch::StartsWith(index) && Catch::Contains("'model.norm.weight' twice"));
}

TEST_CASE("bytes of the data section that no tensor covers are refused") {
  Scratch s;
  const std::string path = s / "model.safetensors";
  SECTION("a gap between two tensors") {
    write_raw_safetensors(path,
                          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                          std::string(12, '\0'));
    CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
               Catch::StartsWith(path) && Catch::Contains("tensor 'b'") &&
                   Catch::Contains("bytes 4..8") && Catch::Contains("belong to no tensor"));
  }
  SECTION("bytes before the first tensor") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          std::string(8, '\0'));
    CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
               Catch::Contains("tensor 'a'") && Catch::Contains("bytes 0..4"));
  }
  SECTION("bytes after the last tensor") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                          std::string(4, '\0') + "hidden payload");
    CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
               Catch::StartsWith(path) && Catch::Contains("bytes 4..18") &&
                   Catch::Contains("belong to no tensor (after 'a')"));
  }
  SECTION("no tensors at all but data") {
    write_raw_safetensors(path, R"({"__metadata__":{"format":"pt"}})", "junk");
    CHECK_THAT(error_of([&] { Checkpoint::open(s.path()); }),
               Catch::Contains("bytes 0..4") && Catch::Contains("belong to no tensor"));
  }
  SECTION("zero-sized tensors anywhere in the tiling are fine") {
    write_raw_safetensors(path,
                          R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                          R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("z":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}})",
                          std::string(4, '\0'));
    CHECK(Checkpoint::open(s.path()).tensors().size() == 3);
  }
}

TEST_CASE("weight files, the index and config.json that are not regular files are refused") {
  Deadline deadline(20);
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  std::string name, kind;
  SECTION("a FIFO model.safetensors") {
    name = "model.safetensors";
    fs::remove(s / ("src/" + name));
    REQUIRE(mkfifo((s / "src/model.safetensors").c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  SECTION("a FIFO index") {
    name = "model.safetensors.index.json";
    REQUIRE(mkfifo((s / ("src/" + name)).c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  SECTION("an index that is a symlink to /dev/zero") {
    name = "model.safetensors.index.json";
    fs::create_symlink("/dev/zero", s / ("src/" + name));
    kind = "a character device";
  }
  SECTION("a model.safetensors that is a directory") {
    name = "model.safetensors";
    fs::remove(s / ("src/" + name));
    fs::create_directories(s / ("src/" + name));
    kind = "a directory";
  }
  SECTION("a config.json that is a symlink to /dev/urandom") {
    name = "config.json";
    fs::remove(s / ("src/" + name));
    fs::create_symlink("/dev/urandom", s / ("src/" + name));
    kind = "a character device";
  }
  SECTION("a FIFO config.json") {
    name = "config.json";
    fs::remove(s / ("src/" + name));
    REQUIRE(mkfifo((s / ("src/" + name)).c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  const std::string error = error_of([&] {
    if (name == "config.json")
      read_model_type(s / "src");
    else
      Checkpoint::open(s / "src");
  });
  CHECK_THAT(error, Catch::StartsWith(s / ("src/" + name)) &&
                        Catch::Contains("not a regular file (" + kind + ")"));
}

TEST_CASE("an index or config.json larger than the cap is refused without reading it all") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  const std::string big = s / "src/config.json";
  {
    std::ofstream out(big, std::ios::binary);
    out << R"({"model_type": "qwen3_moe", "pad": ")" << std::string(17 << 20, 'x') << "\"}";
  }
  CHECK_THAT(error_of([&] { read_model_type(s / "src"); }),
             Catch::StartsWith(big) && Catch::Contains("larger than 16777216 bytes"));
}

TEST_CASE("a source shard that shrinks during verify is an error naming it, not SIGBUS") {
  Scratch s;
  // Large enough that the truncated half spans whole pages of the mapping.
  write_checkpoint(s / "src", qwen3_moe_dict(2, 4, /*I=*/64, /*H=*/256), "qwen3_moe");
  const std::string shard = s / "src/model.safetensors";
  fs::create_directories(s / "dst");
  // In a child: without the fix the comparison touches the mapping past the new end of the
  // file and dies of SIGBUS, which would take the whole test runner with it.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 3;
    try {
      ConvertOptions o = to_prime();
      ConversionPlan plan = plan_conversion(s / "src", o);
      write_conversion(plan, s / "dst", o);
      // Another process truncates the shard after the conversion has mapped it.
      if (truncate(shard.c_str(), static_cast<off_t>(fs::file_size(shard) / 2)) != 0) _exit(6);
      verify_conversion(plan, s / "dst", o);
      code = 4;  // no error at all
    } catch (const Error& e) {
      const std::string what = e.what();
      code = what.rfind(shard, 0) == 0 && what.find("shrank") != std::string::npos ? 0 : 5;
      if (code) std::fprintf(stderr, "unexpected error: %s\n", what.c_str());
    }
    _exit(code);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child status " << status << (WIFSIGNALED(status) ? " (killed by a signal)" : ""));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The verify temporary directory went with the error.
  CHECK(s.entries() == std::vector<std::string>{"dst", "src"});
}

TEST_CASE("a cancellation during the final flush leaves no DST") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(2, 2), "qwen3_moe");
  ConvertOptions o = to_prime();
  bool cancel = false;
  // The last progress report comes once every byte is copied, before the files are flushed
  // and the result renamed into place: a signal then must still stop the conversion.
  o.progress = [&](const ConvertProgress& p) {
    if (p.stage == "convert" && p.tensors_total > 0 && p.tensors_done == p.tensors_total)
      cancel = true;
  };
  o.cancelled = [&] { return cancel; };
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "dst", o); }),
             Catch::Contains("interrupted"));
  CHECK(cancel);
  CHECK(s.entries() == std::vector<std::string>{"src"});
}

TEST_CASE("SRC subdirectories are copied recursively and symlinks are never followed") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  fs::create_directories(s / "src/original/deeper");
  write_text(s / "src/original/params.json", "{\"dim\": 8}");
  write_text(s / "src/original/consolidated.safetensors", "not converted, copied");
  write_text(s / "src/original/deeper/notes.txt", "deep");
  chmod((s / "src/original/params.json").c_str(), 0600);
  write_text(s / "secret.txt", "outside SRC");
  fs::create_symlink("../secret.txt", s / "src/tokenizer.json");           // leaves SRC
  fs::create_symlink("original/params.json", s / "src/params_link.json");  // stays inside
  REQUIRE(mkfifo((s / "src/original/pipe").c_str(), 0600) == 0);

  ConvertResult r = convert_checkpoint(s / "src", s / "dst", to_prime());
  CHECK(read_text(s / "dst/original/params.json") == "{\"dim\": 8}");
  CHECK((fs::status(s / "dst/original/params.json").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(read_text(s / "dst/original/consolidated.safetensors") == "not converted, copied");
  CHECK(read_text(s / "dst/original/deeper/notes.txt") == "deep");
  // A link out of SRC stays a link (to the same file), so no outside byte is copied into DST.
  REQUIRE(fs::is_symlink(fs::symlink_status(s / "dst/tokenizer.json")));
  CHECK(fs::read_symlink(s / "dst/tokenizer.json") == fs::canonical(s / "secret.txt"));
  REQUIRE(fs::is_symlink(fs::symlink_status(s / "dst/params_link.json")));
  CHECK(fs::read_symlink(s / "dst/params_link.json") == "original/params.json");
  CHECK(read_text(s / "dst/params_link.json") == "{\"dim\": 8}");  // resolves inside DST
  CHECK_FALSE(fs::exists(fs::symlink_status(s / "dst/original/pipe")));
  CHECK(std::count(r.skipped.begin(), r.skipped.end(), "original/pipe (a FIFO)") == 1);
  CHECK(std::count(r.copied_files.begin(), r.copied_files.end(), "original/ (3 files)") == 1);
}
