// The chainconv binary: convert, plan, synth and inspect as a user runs them.
#include <signal.h>

#include "io/checkpoint.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

CommandResult run_cli(const Scratch& s, std::vector<std::string> args) {
  args.insert(args.begin(), CHAINCONV_CLI);
  return run_command(args, s.path());
}

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("convert writes the result with a summary and plain progress lines off a terminal") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(2, 4), "qwen3_moe");
  CommandResult r = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--verify"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("converted") && Catch::Contains("stacked 6") &&
                        Catch::Contains("copied config.json"));
  CHECK_THAT(r.out, Catch::Contains("verify: converted back and compared"));
  CHECK_THAT(r.err, Catch::Contains("chainconv: convert 100%") && Catch::Contains("tensors") &&
                        Catch::Contains("/s"));
  CHECK_THAT(r.err, Catch::Contains("chainconv: verify 100%"));
  CHECK(r.err.find('\r') == std::string::npos);  // no bar redraws off a terminal
  CHECK(Checkpoint::open(s / "dst").tensors().count("model.layers.1.mlp.experts.w2") == 1);

  CommandResult quiet = run_cli(s, {"convert", s / "dst", s / "back", "--to", "hf", "--quiet"});
  REQUIRE(quiet.status == 0);
  CHECK(quiet.out.empty());
  CHECK(quiet.err.empty());
  CHECK(Checkpoint::open(s / "back").tensors().size() == qwen3_moe_dict(2, 4).size());
}

TEST_CASE("convert --no-sync writes the same files as a durable convert") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(2, 4), "qwen3_moe");
  CommandResult durable =
      run_cli(s, {"convert", s / "src", s / "durable", "--to", "prime", "--quiet"});
  CommandResult fast =
      run_cli(s, {"convert", s / "src", s / "fast", "--to", "prime", "--quiet", "--no-sync"});
  INFO(fast.err);
  REQUIRE(durable.status == 0);
  REQUIRE(fast.status == 0);
  for (const auto& entry : fs::directory_iterator(s / "durable")) {
    INFO(entry.path().filename());
    CHECK(read_text(entry.path()) == read_text(s / ("fast/" + entry.path().filename().string())));
  }
  CHECK(std::distance(fs::directory_iterator(s / "fast"), fs::directory_iterator()) ==
        std::distance(fs::directory_iterator(s / "durable"), fs::directory_iterator()));
}

TEST_CASE("convert refuses an existing DST with a one-line reason unless --force") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  fs::create_directories(s / "dst");
  CommandResult refused = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"});
  CHECK(refused.status == 1);
  CHECK(lines(refused.err) == 1);
  CHECK_THAT(refused.err, Catch::StartsWith("chainconv: error:") &&
                              Catch::Contains("already exists (use --force"));
  CHECK(fs::is_empty(s / "dst"));

  CommandResult forced =
      run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--force", "--quiet"});
  CHECK(forced.status == 0);
  CHECK(fs::exists(s / "dst/model.safetensors"));
}

TEST_CASE("convert options reach the conversion: expert offset and shard size") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  REQUIRE(run_cli(s, {"convert", s / "src", s / "prime", "--to", "prime", "--quiet"}).status == 0);
  CommandResult r = run_cli(s, {"convert", s / "prime", s / "shard", "--to", "hf",
                                "--expert-offset", "6", "--max-shard-size", "300B", "--quiet"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto tensors = Checkpoint::open(s / "shard").tensors();
  CHECK(tensors.count("model.layers.0.mlp.experts.6.up_proj.weight") == 1);
  CHECK(tensors.count("model.layers.0.mlp.experts.7.up_proj.weight") == 1);
  CHECK(tensors.count("model.layers.0.mlp.experts.0.up_proj.weight") == 0);
  CHECK(fs::exists(s / "shard/model.safetensors.index.json"));

  CommandResult bad =
      run_cli(s, {"convert", s / "src", s / "x", "--to", "prime", "--max-shard-size", "lots"});
  CHECK(bad.status == 1);
  CHECK_THAT(bad.err, Catch::Contains("invalid size 'lots'"));
  CommandResult bad_to = run_cli(s, {"convert", s / "src", s / "x", "--to", "gguf"});
  CHECK(bad_to.status != 0);
  CHECK_FALSE(fs::exists(s / "x"));
}

TEST_CASE("bad input makes convert exit non-zero with one line and no DST") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  SECTION("an unknown dtype") {
    write_raw_safetensors(s / "src/model.safetensors",
                          R"({"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", "x");
  }
  SECTION("an unknown model type") {
    write_text(s / "src/config.json", R"({"model_type": "llama_moe_9000"})");
  }
  SECTION("a missing source") { fs::remove_all(s / "src"); }
  CommandResult r = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"});
  CHECK(r.status == 1);
  CHECK(lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("chainconv: error:"));
  CHECK_FALSE(fs::exists(s / "dst"));
  for (const std::string& name : s.entries()) CHECK(name.find("chainconv-") == std::string::npos);
}

TEST_CASE("an interrupted convert removes its temporary directory") {
  Scratch s;
  // Enough data that the conversion is still running when the signal arrives.
  StateDict big;
  for (int l = 0; l < 64; ++l)
    big.insert("model.layers." + std::to_string(l) + ".w", at::zeros({1024, 1024}));
  write_checkpoint(s / "src", big, "qwen3_moe");
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen((s / "err").c_str(), "w", stderr))
      _exit(127);
    execl(CHAINCONV_CLI, CHAINCONV_CLI, "convert", (s / "src").c_str(), (s / "dst").c_str(), "--to",
          "prime", "--verify", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for the first progress line: the handlers are installed and the copy has begun.
  for (int i = 0; i < 3000 && read_text(s / "err").find("convert") == std::string::npos; ++i)
    usleep(1000);
  kill(pid, SIGINT);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 0) {
    WARN("the conversion finished before the signal arrived; nothing to check");
    return;
  }
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(read_text(s / "err"), Catch::Contains("interrupted"));
  CHECK(s.entries() == std::vector<std::string>{"err", "src"});
}

TEST_CASE("plan shows each output's sources and the chain lines that made it") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 3), "qwen3_moe");
  CommandResult r = run_cli(s, {"plan", s / "src", "--to", "prime"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("model.layers.0.mlp.experts.w1  BF16 [3, 4, 8]  stacked <- "
                                    "model.layers.0.mlp.experts.{0..2}.gate_proj.weight"));
  CHECK_THAT(r.out, Catch::Contains("stack at ") && Catch::Contains("chains/common/moe.yaml:"));
  CHECK_THAT(r.out, Catch::Contains("model.layers.0.mlp.router.gate.weight  BF16 [3, 8]  moved"));
  CHECK_THAT(r.out, Catch::Contains("model.norm.weight  BF16 [8]  unchanged\n"));
  CHECK_THAT(r.out, Catch::Contains("rename at ") && Catch::Contains("chains/qwen3_moe.yaml:"));
  CHECK_THAT(r.out,
             Catch::Contains(
                 "summary: 9 tensors out: 6 moved, 3 stacked, 0 split, 0 synthesised, 0 dropped"));
  CHECK_FALSE(fs::exists(s / "dst"));

  CommandResult j = run_cli(s, {"plan", s / "src", "--to", "prime", "--format", "json"});
  REQUIRE(j.status == 0);
  nlohmann::json doc = nlohmann::json::parse(j.out);
  CHECK(doc["summary"]["stacked"] == 3);
  CHECK(doc["summary"]["tensors"] == 9);
  bool found = false;
  for (const auto& t : doc["tensors"])
    if (t["key"] == "model.layers.0.mlp.experts.w3") {
      found = true;
      CHECK(t["shape"] == nlohmann::json({3, 4, 8}));
      CHECK(t["sources"].size() == 3);
      CHECK(t["ops"].back()["op"] == "stack");
      CHECK(t["ops"].back()["line"].get<int>() > 0);
    }
  CHECK(found);
}

TEST_CASE("inspect lists tensors and a summary with compressed ranges") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(3, 4), "qwen3_moe", /*max_shard_size=*/2000);
  CommandResult r = run_cli(s, {"inspect", s / "src"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("qwen3_moe") && Catch::Contains("48 tensors"));
  CHECK_THAT(r.out, Catch::Contains("model.layers.2.mlp.experts.3.up_proj.weight") &&
                        Catch::Contains("BF16 [4, 8]"));
  CHECK_THAT(
      r.out,
      Catch::Contains(
          "model.layers.{0..2}.mlp.experts.{0..3}.gate_proj.weight  x12  BF16 [4, 8]  768 B"));
}

TEST_CASE("synth writes a deterministic tiny checkpoint that converts both ways") {
  Scratch s;
  CommandResult a = run_cli(s, {"synth", "qwen3_moe", s / "a", "--seed", "3"});
  INFO(a.err);
  REQUIRE(a.status == 0);
  REQUIRE(run_cli(s, {"synth", "qwen3_moe", s / "b", "--seed", "3"}).status == 0);
  REQUIRE(run_cli(s, {"synth", "qwen3_moe", s / "c", "--seed", "4"}).status == 0);
  CHECK(read_text(s / "a/model.safetensors") == read_text(s / "b/model.safetensors"));
  CHECK(read_text(s / "a/model.safetensors") != read_text(s / "c/model.safetensors"));
  CHECK(nlohmann::json::parse(read_text(s / "a/config.json"))["model_type"] == "qwen3_moe");
  CommandResult again = run_cli(s, {"synth", "qwen3_moe", s / "a"});
  CHECK(again.status == 1);
  CHECK_THAT(again.err, Catch::Contains("already exists"));

  // A relative DST below the working directory (as ./dev demo writes build/demo/hf).
  CommandResult relative = run_command(
      {"/bin/sh", "-c", "cd " + s.path() + " && " CHAINCONV_CLI " synth qwen3_moe rel/hf"},
      s.path());
  INFO(relative.err);
  CHECK(relative.status == 1);  // rel/ does not exist: refused, not created
  fs::create_directories(s / "rel");
  relative = run_command(
      {"/bin/sh", "-c", "cd " + s.path() + " && " CHAINCONV_CLI " synth qwen3_moe rel/hf"},
      s.path());
  CHECK(relative.status == 0);
  CHECK(fs::exists(s / "rel/hf/model.safetensors"));

  REQUIRE(run_cli(s, {"synth", "qwen3_moe", s / "fused", "--layout", "fused"}).status == 0);
  CHECK(Checkpoint::open(s / "fused").tensors().count("model.layers.1.mlp.experts.gate_up_proj") ==
        1);
  CommandResult p =
      run_cli(s, {"convert", s / "fused", s / "prime", "--to", "prime", "--verify", "--quiet"});
  INFO(p.err);
  CHECK(p.status == 0);

  write_text(s / "cfg.json", R"({"model_type": "glm4_moe"})");
  CommandResult wrong = run_cli(s, {"synth", "qwen3_moe", s / "d", "--config", s / "cfg.json"});
  CHECK(wrong.status == 1);
  CHECK_THAT(wrong.err, Catch::Contains("not \"qwen3_moe\""));
  CHECK_FALSE(fs::exists(s / "d"));
}
