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
  CHECK_THAT(r.out, Catch::Contains("converted") && Catch::Contains(" 6 stacked, ") &&
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

  // --quiet hides the progress and the summary, never the verdict --verify was asked for.
  CommandResult verdict =
      run_cli(s, {"convert", s / "dst", s / "back2", "--to", "hf", "--quiet", "--verify"});
  REQUIRE(verdict.status == 0);
  CHECK(verdict.out ==
        "verify: converted back and compared 15 source tensors: identical except 0 declared "
        "lossy\n");
  CHECK(verdict.err.empty());
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

TEST_CASE("a checkpoint without config.json is refused with the flag that names a chain") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  fs::remove(s / "src/config.json");
  CommandResult refused = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"});
  CHECK(refused.status == 1);
  CHECK(lines(refused.err) == 1);
  CHECK_THAT(refused.err, Catch::Contains("no config.json (needed for the model_type)") &&
                              Catch::EndsWith("(pass --chain FILE)\n"));
  CHECK(!fs::exists(s / "dst"));
  CommandResult named =
      run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--quiet", "--chain",
                  std::string(CHAINCONV_SOURCE_DIR) + "/chains/qwen3_moe.yaml"});
  INFO(named.err);
  CHECK(named.status == 0);
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
  // embed_tokens, norm, lm_head, input_layernorm and q_proj keep their keys; the router gate
  // is renamed; the three projections of three experts stack into w1, w2, w3.
  CHECK_THAT(r.out, Catch::Contains("summary: 9 tensors out: 5 unchanged, 1 moved, 0 split, 0 "
                                    "unstacked, 3 stacked, 0 restacked, 0 concatenated, 0 "
                                    "synthesised, 0 transformed, 0 reshaped, 0 dropped; "));
  CHECK_FALSE(fs::exists(s / "dst"));

  CommandResult j = run_cli(s, {"plan", s / "src", "--to", "prime", "--format", "json"});
  REQUIRE(j.status == 0);
  nlohmann::json doc = nlohmann::json::parse(j.out);
  CHECK(doc["summary"]["stacked"] == 3);
  CHECK(doc["summary"]["unchanged"] == 5);
  CHECK(doc["summary"]["moved"] == 1);
  CHECK(doc["summary"]["tensors"] == 9);
  bool found = false;
  for (const auto& t : doc["tensors"])
    if (t["key"] == "model.layers.0.mlp.experts.w3") {
      found = true;
      CHECK(t["shape"] == nlohmann::json({3, 4, 8}));
      CHECK(t["sources"].size() == 3);
      CHECK(t["ops"].back()["op"] == "stack");
      CHECK(t["ops"].back()["line"].get<int>() > 0);
      CHECK(t["how"] == "stacked");
    }
  CHECK(found);
}

TEST_CASE("plan labels each output by what the step program did to it") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  REQUIRE(run_cli(s, {"convert", s / "src", s / "prime", "--to", "prime", "--quiet"}).status == 0);
  // to_hf selects each expert's row of w1, w2, w3: unstacked, not split.
  CommandResult back = run_cli(s, {"plan", s / "prime", "--to", "hf"});
  INFO(back.err);
  REQUIRE(back.status == 0);
  CHECK_THAT(back.out, Catch::Contains("model.layers.0.mlp.experts.1.up_proj.weight  BF16 [4, 8]  "
                                       "unstacked <- model.layers.0.mlp.experts.w3\n"));
  CHECK_THAT(back.out, Catch::Contains("summary: 12 tensors out: 5 unchanged, 1 moved, 0 split, 6 "
                                       "unstacked, 0 stacked, 0 restacked, 0 concatenated, 0 "
                                       "synthesised, 0 transformed, 0 reshaped, 0 dropped; "));

  // A chain splitting fused per-expert tensors and stacking the halves (restacked), splitting
  // one tensor (split; concatenated back), creating one (synthesised), negating one
  // (transformed) and dropping one.
  write_text(s / "toy.yaml", R"(version: 1
model_types: [toy]
description: every way an output can be made
ops:
  - split: {from: "e.{expert}.gate_up", into: ["e.{expert}.gate", "e.{expert}.up"], dim: 0}
  - stack: {from: "e.{expert}.gate", to: "w1"}
  - stack: {from: "e.{expert}.up", to: "w3"}
  - split: {from: "qkv", into: [q, kv], dim: 0, sizes: [2, 4]}
  - synthetic: {key: made, like: w1, shape: [0]}
  - map: {key: flip, forward: negate, backward: negate}
  - drop: {keys: "junk", when: to_prime}
)");
  StateDict toy;
  toy.insert("e.0.gate_up", counting({4, 2}));
  toy.insert("e.1.gate_up", counting({4, 2}, 8));
  toy.insert("qkv", counting({6, 2}));
  toy.insert("flip", counting({2}));
  toy.insert("junk", counting({2}));
  toy.insert("same", counting({2}));
  write_checkpoint(s / "toy", toy, "toy");
  CommandResult r = run_cli(s, {"plan", s / "toy", "--to", "prime", "--chain", s / "toy.yaml"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("w1  F32 [2, 2, 2]  restacked <- e.{0..1}.gate_up\n"));
  CHECK_THAT(r.out, Catch::Contains("w3  F32 [2, 2, 2]  restacked <- e.{0..1}.gate_up\n"));
  CHECK_THAT(r.out, Catch::Contains("kv  F32 [4, 2]  split <- qkv\n"));
  CHECK_THAT(r.out, Catch::Contains("made  F32 [0]  synthesised\n"));
  CHECK_THAT(r.out, Catch::Contains("flip  F32 [2]  transformed <- flip\n"));
  CHECK_THAT(r.out, Catch::Contains("same  F32 [2]  unchanged\n"));
  CHECK_THAT(r.out, Catch::Contains("junk  dropped by drop at "));
  CHECK_THAT(r.out, Catch::Contains("summary: 7 tensors out: 1 unchanged, 0 moved, 2 split, 0 "
                                    "unstacked, 0 stacked, 2 restacked, 0 concatenated, 1 "
                                    "synthesised, 1 transformed, 0 reshaped, 1 dropped; "));

  REQUIRE(run_cli(s, {"convert", s / "toy", s / "toy_prime", "--to", "prime", "--chain",
                      s / "toy.yaml", "--quiet"})
              .status == 0);
  CommandResult b = run_cli(
      s, {"plan", s / "toy_prime", "--to", "hf", "--chain", s / "toy.yaml", "--format", "json"});
  INFO(b.err);
  REQUIRE(b.status == 0);
  nlohmann::json doc = nlohmann::json::parse(b.out);
  std::map<std::string, std::string> how;
  for (const auto& t : doc["tensors"]) how[t["key"]] = t["how"];
  // Back: a row of each stacked half, concatenated (restacked); q and kv concatenated; the
  // synthetic tensor dropped.
  CHECK(how == std::map<std::string, std::string>{{"e.0.gate_up", "restacked"},
                                                  {"e.1.gate_up", "restacked"},
                                                  {"qkv", "concatenated"},
                                                  {"flip", "transformed"},
                                                  {"same", "unchanged"}});
  CHECK(doc["summary"]["concatenated"] == 1);
  CHECK(doc["summary"]["restacked"] == 2);
  CHECK(doc["summary"]["dropped"] == 1);
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
  // BF16, 2 bytes an element: 3 layers x (input_layernorm 8 + q_proj 64 + gate 32 + 12 experts
  // x 32 elements) + embed_tokens 128 + norm 8 + lm_head 128 = 1728 elements, 3456 bytes.
  CHECK_THAT(r.out, Catch::Contains("\ndtypes: BF16 48 tensors 3.5 KB\n"));
  CHECK_THAT(r.out, Catch::Contains("\nmodel_type: qwen3_moe\n"));
  CHECK_THAT(r.out, Catch::Contains("\nchain: " CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml\n"));

  // Mixed dtypes are counted apart; an unknown model type has no chain, and says why.
  StateDict mixed;
  mixed.insert("a", at::zeros({3}, at::kFloat));
  mixed.insert("b", at::zeros({2, 2}, at::kFloat));
  mixed.insert("c", at::zeros({5}, at::kBFloat16));
  write_checkpoint(s / "mixed", mixed, "no_such_model");
  CommandResult m = run_cli(s, {"inspect", s / "mixed"});
  INFO(m.err);
  REQUIRE(m.status == 0);
  CHECK_THAT(m.out, Catch::Contains("\ndtypes: BF16 1 tensor 10 B, F32 2 tensors 28 B\n"));
  CHECK_THAT(m.out, Catch::Contains("\nmodel_type: no_such_model\n"));
  CHECK_THAT(m.out, Catch::Contains("\nchain: none: no chain serves model_type 'no_such_model' "
                                    "(searched '" CHAINCONV_SOURCE_DIR "/chains'; known: "));
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
  CHECK(relative.status == 0);  // rel/ did not exist: created, as mkdir -p would
  CHECK(fs::exists(s / "rel/hf/model.safetensors"));
  CommandResult nested = run_cli(s, {"synth", "qwen3_moe", s / "x/y/z/hf"});
  CHECK(nested.status == 0);
  CHECK(fs::exists(s / "x/y/z/hf/model.safetensors"));
  CHECK(fs::is_directory(s / "x/y/z"));
  // A parent that cannot be created is an error naming it.
  write_text(s / "file", "");
  CommandResult blocked = run_cli(s, {"synth", "qwen3_moe", s / "file/sub/hf"});
  CHECK(blocked.status == 1);
  CHECK_THAT(blocked.err, Catch::Contains(s / "file/sub") && Catch::Contains("parent"));

  REQUIRE(run_cli(s, {"synth", "qwen3_moe", s / "fused", "--experts", "fused"}).status == 0);
  CHECK(Checkpoint::open(s / "fused").tensors().count("model.layers.1.mlp.experts.gate_up_proj") ==
        1);
  // The old spelling still works, and says it is old.
  CommandResult old = run_cli(s, {"synth", "qwen3_moe", s / "fused_old", "--layout", "fused"});
  CHECK(old.status == 0);
  CHECK_THAT(old.err, Catch::Contains("--layout is deprecated; use --experts fused"));
  CHECK(read_text(s / "fused_old/model.safetensors") == read_text(s / "fused/model.safetensors"));
  CHECK(run_cli(s, {"synth", "qwen3_moe", s / "both", "--layout", "fused", "--experts", "fused"})
            .status != 0);
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

TEST_CASE("synth and demo build from a given layout file and config") {
  Scratch s;
  // A layout of one's own, outside any chains directory, and a config for it.
  write_text(s / "mine.yaml", R"(model_types: [qwen3_moe]
dtype: F32
tensors:
  - {key: model.norm.weight, shape: [hidden_size]}
  - for: {layer: num_hidden_layers}
    tensors:
      - {key: "model.layers.{layer}.mlp.gate.weight", shape: [num_experts, hidden_size]}
)");
  write_text(s / "cfg.json", R"({"model_type": "qwen3_moe", "hidden_size": 3,
                                  "num_hidden_layers": 2, "num_experts": 5})");
  CommandResult r = run_cli(s, {"synth", "qwen3_moe", s / "hf", "--layout-file", s / "mine.yaml",
                                "--config", s / "cfg.json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto tensors = Checkpoint::open(s / "hf").tensors();
  CHECK(tensors.size() == 3);
  CHECK(Checkpoint::open(s / "hf").locate("model.layers.1.mlp.gate.weight").entry->shape ==
        std::vector<int64_t>{5, 3});
  CHECK(nlohmann::json::parse(read_text(s / "hf/config.json"))["num_experts"] == 5);

  // Without --config, the tiny config beside the layout file is used.
  fs::create_directories(s / "own");
  fs::copy_file(s / "mine.yaml", s / "own/mine.yaml");
  write_text(
      s / "own/qwen3_moe.config.json",
      R"({"model_type": "qwen3_moe", "hidden_size": 2, "num_hidden_layers": 1, "num_experts": 7})");
  REQUIRE(
      run_cli(s, {"synth", "qwen3_moe", s / "hf2", "--layout-file", s / "own/mine.yaml"}).status ==
      0);
  CHECK(Checkpoint::open(s / "hf2").locate("model.layers.0.mlp.gate.weight").entry->shape ==
        std::vector<int64_t>{7, 2});

  // demo: --config alone names the model type; its chain converts the layout's keys.
  CommandResult d =
      run_cli(s, {"demo", "--layout-file", s / "mine.yaml", "--config", s / "cfg.json"});
  INFO(d.out << d.err);
  REQUIRE(d.status == 0);
  CHECK_THAT(d.out, Catch::Contains("chain " CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml serves"));
  CHECK_THAT(d.out,
             Catch::Contains("checkpoint: " + s / "cfg.json" + " laid out by " + s / "mine.yaml"));
  CHECK_THAT(d.out, Catch::Contains("HF state dict (3 tensors)"));
  CHECK_THAT(d.out, Catch::Contains("model.layers.{0..1}.mlp.router.gate.weight"));
  CHECK_THAT(d.out, Catch::Contains("identical to the input"));
}

TEST_CASE("convert and plan take the chain's parameters: --hf-experts and --set") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 4), "qwen3_moe");
  REQUIRE(run_cli(s, {"convert", s / "src", s / "prime", "--to", "prime", "--quiet"}).status == 0);
  // qwen3_moe's published layout, per expert, is the default.
  REQUIRE(run_cli(s, {"convert", s / "prime", s / "per", "--to", "hf", "--quiet"}).status == 0);
  CHECK(Checkpoint::open(s / "per").tensors().count("model.layers.0.mlp.experts.3.up_proj.weight"));
  CommandResult fused = run_cli(s, {"convert", s / "prime", s / "fused", "--to", "hf",
                                    "--hf-experts", "fused", "--quiet", "--verify"});
  INFO(fused.err);
  REQUIRE(fused.status == 0);
  const Checkpoint out = Checkpoint::open(s / "fused");
  REQUIRE(out.tensors().count("model.layers.0.mlp.experts.gate_up_proj"));
  CHECK(out.locate("model.layers.0.mlp.experts.gate_up_proj").entry->shape ==
        std::vector<int64_t>{4, 8, 8});  // [E, 2I, H] with E = 4, I = 4, H = 8
  CHECK(out.locate("model.layers.0.mlp.experts.down_proj").entry->shape ==
        std::vector<int64_t>{4, 8, 4});  // [E, H, I]
  CHECK(out.tensors().count("model.layers.0.mlp.experts.0.gate_proj.weight") == 0);

  CommandResult plan = run_cli(s, {"plan", s / "prime", "--to", "hf", "--set", "hf_experts=fused"});
  REQUIRE(plan.status == 0);
  CHECK_THAT(plan.out, Catch::Contains("model.layers.0.mlp.experts.gate_up_proj  BF16 [4, 8, 8]  "
                                       "concatenated"));

  CommandResult unknown = run_cli(s, {"plan", s / "prime", "--to", "hf", "--set", "nope=1"});
  CHECK(unknown.status == 1);
  CHECK_THAT(unknown.err, Catch::Contains("the chain has no parameter 'nope' (its parameters: "
                                          "hf_experts)"));
  CommandResult malformed = run_cli(s, {"plan", s / "prime", "--to", "hf", "--set", "nope"});
  CHECK(malformed.status == 1);
  CHECK_THAT(malformed.err, Catch::Contains("--set nope: expected NAME=VALUE"));
  CommandResult bad_layout =
      run_cli(s, {"plan", s / "prime", "--to", "hf", "--hf-experts", "stacked"});
  CHECK(bad_layout.status == 2);
}

TEST_CASE("a chain's ${config.X} values are the checkpoint's config.json") {
  Scratch s;
  write_text(s / "rows.yaml", R"(version: 1
model_types: [rows_test]
description: split by a config value
ops:
  - split: {from: w, into: [a, b], sizes: ["${config.rows}", "6 - ${config.rows}"]}
)");
  fs::create_directories(s / "src");
  write_state_dict(s / "src", StateDict{{"w", counting({6, 2})}}, kDefaultMaxShardSize);
  write_text(s / "src/config.json", R"({"model_type": "rows_test", "rows": 2})");
  CommandResult r = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--chain",
                                s / "rows.yaml", "--quiet", "--verify"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const Checkpoint out = Checkpoint::open(s / "dst");
  CHECK(out.locate("a").entry->shape == std::vector<int64_t>{2, 2});
  CHECK(out.locate("b").entry->shape == std::vector<int64_t>{4, 2});

  write_text(s / "src/config.json", R"({"model_type": "rows_test"})");
  CommandResult missing =
      run_cli(s, {"plan", s / "src", "--to", "prime", "--chain", s / "rows.yaml"});
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Catch::Contains("rows.yaml:5:44: config.json has no field 'rows'"));
}
