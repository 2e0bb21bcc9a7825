// Where the chainconv binary finds chains, layouts and the compute plugin: --chains-dir
// directories before the default (the first serving a model type wins), messages that list
// what was searched, and a binary copied out of its build tree, which must not fall back on
// the tree's chains or plugin.
#include "io/checkpoint.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

const std::string kChains = CHAINCONV_SOURCE_DIR "/chains";

// `binary` with CHAINCONV_CHAINS_DIR unset (or set to `chains_env`).
CommandResult run_binary(const Scratch& s, const std::string& binary, std::vector<std::string> args,
                         const std::string& chains_env = "") {
  std::vector<std::string> argv = {"/usr/bin/env"};
  if (chains_env.empty()) {
    argv.insert(argv.end(), {"-u", "CHAINCONV_CHAINS_DIR"});
  } else {
    argv.push_back("CHAINCONV_CHAINS_DIR=" + chains_env);
  }
  argv.push_back(binary);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, s.path());
}

CommandResult run_cli(const Scratch& s, std::vector<std::string> args) {
  return run_binary(s, CHAINCONV_CLI, std::move(args));
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// A chains directory of one's own serving "toy_moe": Qwen3-MoE's chain, layout and tiny
// config under another model type, with the shipped pieces and blocks copied beside them
// (includes are relative to the including file).
void write_toy_chains(const std::string& dir) {
  fs::create_directories(dir + "/layouts");
  fs::copy(kChains + "/common", dir + "/common", fs::copy_options::recursive);
  fs::copy(kChains + "/layouts/common", dir + "/layouts/common", fs::copy_options::recursive);
  write_text(dir + "/toy_moe.yaml", replaced(read_text(kChains + "/qwen3_moe.yaml"),
                                             "model_types: [qwen3_moe]", "model_types: [toy_moe]"));
  write_text(dir + "/layouts/toy_moe.yaml",
             replaced(read_text(kChains + "/layouts/qwen3_moe.yaml"), "model_types: [qwen3_moe]",
                      "model_types: [toy_moe]"));
  write_text(dir + "/layouts/toy_moe.config.json",
             replaced(read_text(kChains + "/layouts/qwen3_moe.config.json"), "\"qwen3_moe\"",
                      "\"toy_moe\""));
}

}  // namespace

TEST_CASE("chains and layouts in a --chains-dir directory are found before the shipped ones") {
  Scratch s;
  write_toy_chains(s / "mine");

  // Not shipped: every lookup says where it looked, and what would help.
  CommandResult no_layout = run_cli(s, {"synth", "toy_moe", s / "hf"});
  CHECK(no_layout.status == 1);
  CHECK_THAT(no_layout.err, Catch::StartsWith("chainconv: error: no layout for model_type "
                                              "'toy_moe' (searched '" +
                                              kChains + "/layouts'; known: afmoe, "));
  CHECK_THAT(no_layout.err, Catch::Contains("(--chains-dir DIR), or pass --layout-file FILE\n"));
  CHECK_FALSE(fs::exists(s / "hf"));

  CommandResult synth = run_cli(s, {"synth", "toy_moe", s / "hf", "--chains-dir", s / "mine"});
  INFO(synth.err);
  REQUIRE(synth.status == 0);
  CHECK_THAT(synth.out, Catch::Contains("layout " + s / "mine" + "/layouts/toy_moe.yaml"));
  CHECK(nlohmann::json::parse(read_text(s / "hf/config.json"))["model_type"] == "toy_moe");

  CommandResult no_chain = run_cli(s, {"convert", s / "hf", s / "prime", "--to", "prime"});
  CHECK(no_chain.status == 1);
  CHECK(no_chain.err == "chainconv: error: " + s / "hf" +
                            "/config.json: no chain serves model_type 'toy_moe' (searched '" +
                            kChains +
                            "'; known: afmoe, deepseek_v3, glm4_moe, glm_moe_dsa, gpt_oss, laguna, "
                            "minimax_m2, mixtral, nemotron_h, olmoe, qwen2_moe, qwen3_5_moe, "
                            "qwen3_5_moe_text, qwen3_moe); add a "
                            "directory with a chain listing it (--chains-dir DIR), or pass "
                            "--chain FILE\n");

  CommandResult plan = run_cli(s, {"plan", s / "hf", "--to", "prime", "--chains-dir", s / "mine"});
  INFO(plan.err);
  REQUIRE(plan.status == 0);
  CHECK_THAT(plan.out, Catch::StartsWith("plan: " + s / "hf" + " to_prime with " + s / "mine" +
                                         "/toy_moe.yaml"));
  CommandResult convert = run_cli(s, {"convert", s / "hf", s / "prime", "--to", "prime", "--verify",
                                      "--chains-dir", s / "mine"});
  INFO(convert.err);
  REQUIRE(convert.status == 0);
  CHECK(Checkpoint::open(s / "prime").tensors().count("model.layers.1.mlp.experts.w1") == 1);

  CommandResult inspect = run_cli(s, {"inspect", s / "hf", "--chains-dir", s / "mine"});
  CHECK_THAT(inspect.out, Catch::Contains("\nchain: " + s / "mine" + "/toy_moe.yaml\n"));

  CommandResult demo = run_cli(s, {"demo", "--model-type", "toy_moe", "--chains-dir", s / "mine"});
  INFO(demo.err);
  CHECK(demo.status == 0);
  CHECK_THAT(demo.out, Catch::Contains("identical to the input"));

  // The shipped chains are still there behind it.
  CHECK(run_cli(s, {"demo", "--model-type", "glm4_moe", "--chains-dir", s / "mine"}).status == 0);

  // A directory that does not exist is a bad command line.
  CHECK(run_cli(s, {"plan", s / "hf", "--to", "prime", "--chains-dir", s / "nowhere"}).status == 2);
}

TEST_CASE(
    "the first chains directory serving a model type wins, and one directory may not serve it "
    "twice") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  for (const char* dir : {"first", "second"}) {
    fs::create_directories(s / dir);
    fs::copy(kChains + "/common", s / dir + "/common", fs::copy_options::recursive);
  }
  fs::copy_file(kChains + "/qwen3_moe.yaml", s / "first/my_qwen.yaml");
  fs::copy_file(kChains + "/qwen3_moe.yaml", s / "second/other_qwen.yaml");
  auto chain_used = [&](std::vector<std::string> dirs) {
    std::vector<std::string> args = {"plan", s / "src", "--to", "prime"};
    for (const std::string& d : dirs) args.insert(args.end(), {"--chains-dir", d});
    CommandResult r = run_cli(s, args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    std::string first_line = r.out.substr(0, r.out.find('\n'));
    return first_line.substr(first_line.find(" with ") + 6,
                             first_line.find(" (headers") - first_line.find(" with ") - 6);
  };
  CHECK(chain_used({}) == kChains + "/qwen3_moe.yaml");
  CHECK(chain_used({s / "first"}) == s / "first/my_qwen.yaml");
  CHECK(chain_used({s / "second", s / "first"}) == s / "second/other_qwen.yaml");
  CHECK(chain_used({s / "first", s / "second"}) == s / "first/my_qwen.yaml");

  fs::copy_file(s / "second/other_qwen.yaml", s / "first/again.yaml");
  CommandResult twice =
      run_cli(s, {"plan", s / "src", "--to", "prime", "--chains-dir", s / "first"});
  CHECK(twice.status == 1);
  CHECK_THAT(twice.err, Catch::Contains(s / "first/my_qwen.yaml") &&
                            Catch::Contains("model type 'qwen3_moe' is already served by " +
                                            s / "first/again.yaml"));
}

TEST_CASE("a binary copied out of the build tree finds chains and the plugin only beside it") {
  Scratch s;
  fs::create_directories(s / "bin");
  fs::copy_file(CHAINCONV_CLI, s / "bin/chainconv");
  const std::string copied = fs::canonical(s / "bin/chainconv").string();

  // Not the build tree's chains: none, and it says so.
  CommandResult alone = run_binary(s, copied, {"demo"});
  CHECK(alone.status == 1);
  CHECK(alone.err ==
        "chainconv: error: no chain serves model_type 'qwen3_moe' (no chains directory to "
        "search: CHAINCONV_CHAINS_DIR is not set and none is installed beside " +
            copied +
            "; known: none); add a directory with a chain listing it (--chains-dir DIR), or pass "
            "--chain FILE\n");
  CHECK(run_binary(s, copied, {"demo", "--chains-dir", kChains}).status == 0);
  CHECK(run_binary(s, copied, {"demo"}, kChains).status == 0);

  // Laid out as installed: bin/chainconv, share/chainconv/chains, lib/chainconv/ (plugin).
  fs::create_directories(s / "prefix/bin");
  fs::create_directories(s / "prefix/share/chainconv");
  fs::copy_file(CHAINCONV_CLI, s / "prefix/bin/chainconv");
  fs::copy(kChains, s / "prefix/share/chainconv/chains", fs::copy_options::recursive);
  const std::string installed = s / "prefix/bin/chainconv";
  CommandResult found = run_binary(s, installed, {"demo"});
  INFO(found.err);
  CHECK(found.status == 0);
  CHECK_THAT(found.out, Catch::Contains("chain " + fs::canonical(s / "prefix").string() +
                                        "/share/chainconv/chains/qwen3_moe.yaml serves"));

  // nemotron_h's chain computes a value (a map op): LibTorch through the plugin, which is not
  // beside this copy yet, and is not taken from the build tree.
  CommandResult no_plugin = run_binary(s, installed, {"demo", "--model-type", "nemotron_h"});
  CHECK(no_plugin.status == 1);
  CHECK_THAT(no_plugin.err, Catch::Contains("needs the compute plugin chainconv_compute.so") &&
                                Catch::Contains("/lib/chainconv/chainconv_compute.so"));
  CHECK(no_plugin.err.find(CHAINCONV_PLUGIN) == std::string::npos);
  fs::create_directories(s / "prefix/lib/chainconv");
  fs::copy_file(CHAINCONV_PLUGIN, s / "prefix/lib/chainconv/chainconv_compute.so");
  CommandResult computed = run_binary(s, installed, {"demo", "--model-type", "nemotron_h"});
  INFO(computed.err);
  CHECK(computed.status == 0);
}
