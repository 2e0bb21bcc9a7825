// Hostile input and faults through the chainconv binary: files that would crash, block or
// exhaust it, offsets that overflow, signals in every phase, SIGKILL leftovers, modes, and
// DST names the shell produces.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "io/checkpoint.h"
#include "io/temp_dir.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

constexpr unsigned kTimeout = 60;  // a command that blocks fails instead of hanging the test

CommandResult run_cli(const Scratch& s, std::vector<std::string> args) {
  args.insert(args.begin(), CHAINCONV_CLI);
  return run_command(args, s.path(), kTimeout);
}

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Entries of `dir` that look like a temporary directory of a conversion.
std::vector<std::string> temp_dirs(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".chainconv-") != std::string::npos)
      found.push_back(e.path().filename().string());
  return found;
}

// A refusal: exit 1, one line on stderr naming `what`, no DST and no temporary directory.
void require_refused(const Scratch& s, const CommandResult& r, const std::string& what) {
  INFO("stderr: " << r.err);
  CHECK(r.status == 1);
  CHECK(lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("chainconv: error:") && Catch::Contains(what));
  CHECK_FALSE(fs::exists(s / "dst"));
  CHECK(temp_dirs(s.path()).empty());
}

// A checkpoint big enough that a conversion is still copying when a signal arrives.
void write_big_checkpoint(const std::string& dir) {
  StateDict big;
  for (int l = 0; l < 64; ++l)
    big.insert("model.layers." + std::to_string(l) + ".w", at::zeros({1024, 1024}));
  write_checkpoint(dir, big, "qwen3_moe");
}

pid_t start_cli(const Scratch& s, const std::vector<std::string>& args) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen((s / "err").c_str(), "w", stderr))
      _exit(127);
    std::vector<char*> argv{const_cast<char*>(CHAINCONV_CLI)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    alarm(kTimeout);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits until `text` appears on the child's stderr.
bool wait_for_stderr(const Scratch& s, const std::string& text) {
  for (int i = 0; i < 30000; ++i) {
    if (read_text(s / "err").find(text) != std::string::npos) return true;
    usleep(1000);
  }
  return false;
}

// Waits until process `pid` catches every signal of `signals` (SigCgt in /proc), i.e. its
// handlers are installed and a signal now is the conversion's to handle.
bool wait_for_handlers(pid_t pid, const std::vector<int>& signals) {
  for (int i = 0; i < 30000; ++i) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("SigCgt:", 0) == 0) {
        const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
        bool all = true;
        for (int sig : signals) all &= ((mask >> (sig - 1)) & 1) != 0;
        if (all) return true;
      }
    usleep(1000);
  }
  return false;
}

int wait_status(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A header whose shape is nested `depth` lists deep.
void write_deep_header(const std::string& path, size_t depth) {
  write_raw_safetensors(path,
                        R"({"a":{"dtype":"F32","shape":)" + std::string(depth, '[') + "1" +
                            std::string(depth, ']') + R"(,"data_offsets":[0,4]}})",
                        std::string(4, '\0'));
}

}  // namespace

TEST_CASE("a header nested 100,000 deep: inspect, plan and convert refuse it in one line") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  write_deep_header(s / "src/model.safetensors", 100'000);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", s / "src"},
        std::vector<std::string>{"plan", s / "src", "--to", "prime"},
        std::vector<std::string>{"convert", s / "src", s / "dst", "--to", "prime"}}) {
    INFO(args[0]);
    require_refused(s, run_cli(s, args), s / "src/model.safetensors: the header nests deeper");
  }
}

TEST_CASE("weights, index, config or chain that are FIFOs, devices or directories are refused") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  std::string file, kind;
  std::vector<std::string> extra;
  SECTION("a FIFO model.safetensors") {
    file = s / "src/model.safetensors";
    fs::remove(file);
    REQUIRE(mkfifo(file.c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  SECTION("a FIFO index") {
    file = s / "src/model.safetensors.index.json";
    REQUIRE(mkfifo(file.c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  SECTION("an index that is a symlink to /dev/zero") {
    file = s / "src/model.safetensors.index.json";
    fs::create_symlink("/dev/zero", file);
    kind = "a character device";
  }
  SECTION("a config.json that is a symlink to /dev/urandom") {
    file = s / "src/config.json";
    fs::remove(file);
    fs::create_symlink("/dev/urandom", file);
    kind = "a character device";
  }
  SECTION("a FIFO config.json") {
    file = s / "src/config.json";
    fs::remove(file);
    REQUIRE(mkfifo(file.c_str(), 0600) == 0);
    kind = "a FIFO";
  }
  SECTION("a FIFO chain file") {
    file = s / "chain.yaml";
    REQUIRE(mkfifo(file.c_str(), 0600) == 0);
    extra = {"--chain", file};
    kind = "a FIFO";
  }
  SECTION("a chain file that is a symlink to /dev/zero") {
    file = s / "chain.yaml";
    fs::create_symlink("/dev/zero", file);
    extra = {"--chain", file};
    kind = "a character device";
  }
  SECTION("a chain file that is a directory") {
    file = s / "chain.yaml";
    fs::create_directories(file);
    extra = {"--chain", file};
    kind = "a directory";
  }
  for (std::string command : {"plan", "convert"}) {
    INFO(command);
    std::vector<std::string> args{command, s / "src"};
    if (command == "convert") args.push_back(s / "dst");
    args.insert(args.end(), {"--to", "prime"});
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = run_cli(s, args);
    require_refused(s, r, file + ": cannot read");
    CHECK_THAT(r.err, Catch::Contains("not a regular file (" + kind + ")"));
  }
}

TEST_CASE("a config.json far larger than any real one is refused") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  {
    std::ofstream out(s / "src/config.json", std::ios::binary);
    out << R"({"model_type": "qwen3_moe", "pad": ")" << std::string(20 << 20, ' ') << "\"}";
  }
  require_refused(s, run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"}),
                  s / "src/config.json: cannot read: larger than 16777216 bytes");
}

TEST_CASE("an included chain file or a synth --config that is no plain file is refused") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  {
    std::ofstream out(s / "huge.yaml", std::ios::binary);  // a YAML comment of 17 MB
    out << "#" << std::string(17 << 20, '#') << "\n";
  }
  write_text(
      s / "chain.yaml",
      "version: 1\nmodel_types: [qwen3_moe]\ndescription: d\ninclude: [huge.yaml]\nops: []\n");
  CommandResult plan =
      run_cli(s, {"plan", s / "src", "--to", "prime", "--chain", s / "chain.yaml"});
  require_refused(s, plan, s / "huge.yaml: cannot read chain file: larger than 16777216 bytes");

  REQUIRE(mkfifo((s / "config.json").c_str(), 0600) == 0);
  CommandResult synth =
      run_cli(s, {"synth", "qwen3_moe", s / "dst", "--config", s / "config.json"});
  require_refused(s, synth, s / "config.json: cannot read config: not a regular file (a FIFO)");
}

TEST_CASE("an expert offset that would overflow into negative expert ids is refused") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  REQUIRE(run_cli(s, {"convert", s / "src", s / "prime", "--to", "prime", "--quiet"}).status == 0);
  for (const std::string offset : {"9223372036854775806", "2147483648", "-1"}) {
    INFO(offset);
    CommandResult plan = run_cli(s, {"plan", s / "prime", "--to", "hf", "--expert-offset", offset});
    CHECK(plan.status == 1);
    CHECK(lines(plan.err) == 1);
    CHECK_THAT(plan.err, Catch::Contains("--expert-offset " + offset + ": out of range"));
    CHECK(plan.out.empty());
    CommandResult convert =
        run_cli(s, {"convert", s / "prime", s / "dst", "--to", "hf", "--expert-offset", offset});
    require_refused(
        s, convert,
        "--expert-offset " + offset + ": out of range (an expert offset is 0 to 2147483647)");
  }
  // The largest offset allowed converts, and its ids stay positive.
  REQUIRE(run_cli(s, {"convert", s / "prime", s / "top", "--to", "hf", "--expert-offset",
                      "2147483647", "--quiet"})
              .status == 0);
  CHECK(Checkpoint::open(s / "top").tensors().count(
            "model.layers.0.mlp.experts.2147483648.up_proj.weight") == 1);
}

TEST_CASE("each terminating signal during a conversion exits non-zero and leaves nothing") {
  Scratch s;
  write_big_checkpoint(s / "src");
  const auto [signal, name, stage] = GENERATE(table<int, std::string, std::string>({
      {SIGINT, "SIGINT", "convert"},
      {SIGTERM, "SIGTERM", "convert"},
      {SIGHUP, "SIGHUP", "convert"},
      {SIGQUIT, "SIGQUIT", "convert"},
      {SIGPIPE, "SIGPIPE", "convert"},
      {SIGTERM, "SIGTERM", "verify"},
      {SIGHUP, "SIGHUP", "verify"},
  }));
  INFO(name << " during " << stage);
  pid_t pid = start_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--verify"});
  REQUIRE(wait_for_stderr(s, "chainconv: " + stage));
  kill(pid, signal);
  const int status = wait_status(pid);
  const std::string err = read_text(s / "err");
  INFO(err);
  if (status == 0) {
    WARN("the conversion finished before the signal arrived; nothing to check");
    return;
  }
  CHECK(status == 128 + signal);
  CHECK_THAT(err, Catch::Contains("chainconv: interrupted by " + name + "; " + s / "dst" +
                                  " was not written"));
  CHECK_FALSE(fs::exists(s / "dst"));
  CHECK(temp_dirs(s.path()).empty());
}

TEST_CASE("SIGTERM while a conversion is still being planned acts within a second") {
  Scratch s;
  // 3000 layer groups, each walked through 1000 renames: planning takes seconds (some 1-2 ms
  // a group here), and nothing is copied before it ends.
  StateDict dict;
  for (int l = 0; l < 3000; ++l)
    dict.insert("model.layers." + std::to_string(l) + ".input_layernorm.weight", at::zeros({2}));
  write_checkpoint(s / "src", dict, "slow_to_plan");
  std::string chain = "version: 1\nmodel_types: [slow_to_plan]\ndescription: a long walk\nops:\n";
  for (int i = 0; i < 1000; ++i)
    chain += "  - rename: {from: \"model.layers.{layer}." +
             (i ? "step_" + std::to_string(i) : std::string("input_layernorm")) +
             ".weight\", to: \"model.layers.{layer}.step_" + std::to_string(i + 1) + ".weight\"}\n";
  write_text(s / "chain.yaml", chain);
  pid_t pid =
      start_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--chain", s / "chain.yaml"});
  REQUIRE(wait_for_handlers(pid, {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // well into the planning
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  const int status = wait_status(pid);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  const std::string err = read_text(s / "err");
  INFO(err << "exit " << status << " after " << seconds << " s");
  REQUIRE(status != 0);  // else it was planned and written within a second: proves nothing
  CHECK(status == 128 + SIGTERM);
  CHECK_THAT(err, Catch::Contains("interrupted by SIGTERM"));
  CHECK_THAT(err, !Catch::Contains("chainconv: convert"));  // it never got to copying
  CHECK(seconds < 1.0);
  CHECK_FALSE(fs::exists(s / "dst"));
  CHECK(temp_dirs(s.path()).empty());
}

TEST_CASE("a rerun removes what a SIGKILLed conversion left, and not what a live one owns") {
  Scratch s;
  write_big_checkpoint(s / "src");
  pid_t pid = start_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"});
  REQUIRE(wait_for_stderr(s, "chainconv: convert"));
  kill(pid, SIGKILL);  // as the OOM killer does: no handler runs
  if (wait_status(pid) == 0) {
    WARN("the conversion finished before the signal arrived; nothing to check");
    return;
  }
  const std::vector<std::string> left = temp_dirs(s.path());
  REQUIRE(left.size() == 1);

  // A temporary directory for the same DST whose owner (this test) is alive.
  TempDir live = TempDir::beside(s / "dst");
  CommandResult rerun = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--quiet"});
  INFO(rerun.err);
  REQUIRE(rerun.status == 0);
  CHECK_THAT(rerun.err, Catch::Contains("chainconv: removed " + s / left[0]) &&
                            Catch::Contains("left by process " + std::to_string(pid) +
                                            ", which is no longer running"));
  CHECK_THAT(rerun.err, Catch::Contains("left " + fs::path(live.path()).parent_path().string() +
                                        " alone: process " + std::to_string(getpid()) +
                                        " is still writing it"));
  CHECK(fs::exists(live.path()));
  CHECK(temp_dirs(s.path()) ==
        std::vector<std::string>{fs::path(live.path()).parent_path().filename().string()});
  CHECK(Checkpoint::open(s / "dst").tensors().size() == 64);
}

TEST_CASE("DST gets the mode mkdir would give it, and copied files keep their modes") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  write_text(s / "src/secret.json", "{}");
  write_text(s / "src/run.sh", "#!/bin/sh\n");
  write_text(s / "src/tokenizer.json", "{}");
  chmod((s / "src/secret.json").c_str(), 0600);
  chmod((s / "src/run.sh").c_str(), 0755);
  chmod((s / "src/tokenizer.json").c_str(), 0644);
  const mode_t old_umask = umask(027);  // inherited by the child
  CommandResult r = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime", "--quiet"});
  umask(old_umask);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto mode = [&](const std::string& path) {
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  CHECK(mode(s / "dst") == 0750);
  CHECK(mode(s / "dst/secret.json") == 0600);
  CHECK(mode(s / "dst/run.sh") == 0755);
  CHECK(mode(s / "dst/tokenizer.json") == 0644);
}

TEST_CASE("DST may end in a slash and may have a name near NAME_MAX") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  SECTION("a trailing slash, as shell completion writes it") {
    CommandResult r = run_cli(s, {"convert", s / "src", s / "dst/", "--to", "prime", "--quiet"});
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(fs::exists(s / "dst/model.safetensors"));
    CommandResult again = run_cli(s, {"convert", s / "src", s / "dst//", "--to", "prime"});
    CHECK(again.status == 1);
    CHECK_THAT(again.err, Catch::Contains("already exists"));
    CHECK(run_cli(s, {"convert", s / "src", s / "dst/", "--to", "prime", "--force", "--quiet"})
              .status == 0);
  }
  SECTION("a 250-byte name") {
    const std::string name(250, 'd');
    CommandResult r =
        run_cli(s, {"convert", s / "src", s / name, "--to", "prime", "--verify", "--quiet"});
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(fs::exists(s / (name + "/model.safetensors")));
  }
  CHECK(temp_dirs(s.path()).empty());
}

TEST_CASE("convert copies SRC's subdirectories and reports what it could not copy") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  fs::create_directories(s / "src/tokenizer/extra");
  write_text(s / "src/tokenizer/vocab.json", "{\"a\": 1}");
  write_text(s / "src/tokenizer/extra/merges.txt", "a b");
  REQUIRE(mkfifo((s / "src/tokenizer/pipe").c_str(), 0600) == 0);
  CommandResult r = run_cli(s, {"convert", s / "src", s / "dst", "--to", "prime"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("tokenizer/ (2 files)"));
  CHECK_THAT(r.out, Catch::Contains("skipped tokenizer/pipe (a FIFO)"));
  CHECK(read_text(s / "dst/tokenizer/vocab.json") == "{\"a\": 1}");
  CHECK(read_text(s / "dst/tokenizer/extra/merges.txt") == "a b");
}
