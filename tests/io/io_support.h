// Helpers for the I/O tests: scratch directories, hand-written safetensors files (valid and
// broken), small checkpoints, and running the chainconv binary.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "aten/tensor_io.h"
#include "io/writer.h"
#include "support/support.h"

namespace chainconv::testing {

namespace fs = std::filesystem;

// A tensor's elements as raw bytes, for bytewise comparisons (FP8 included).
inline std::string bytes_of(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()),
                     static_cast<size_t>(c.numel()) * c.element_size());
}

// A fresh directory removed at the end of the test.
class Scratch {
 public:
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "chainconv-io-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    REQUIRE(mkdtemp(buffer.data()) != nullptr);
    path_ = buffer.data();
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }
  // Entries of the scratch directory (to check nothing was left behind).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A safetensors file from a header (JSON text, written as is) and raw data bytes.
inline void write_raw_safetensors(const std::string& path, const std::string& header,
                                  const std::string& data, uint64_t declared_length = UINT64_MAX) {
  uint64_t n = declared_length == UINT64_MAX ? header.size() : declared_length;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
  write_text(path, bytes + header + data);
}

// A checkpoint directory: config.json with `model_type` (none if empty) and the dict.
inline void write_checkpoint(const std::string& dir, const StateDict& dict,
                             const std::string& model_type,
                             uint64_t max_shard_size = kDefaultMaxShardSize) {
  fs::create_directories(dir);
  if (!model_type.empty())
    write_text(dir + "/config.json", "{\"model_type\": \"" + model_type + "\"}\n");
  write_state_dict(dir, dict, max_shard_size);
}

// A small Qwen3-MoE-shaped HF dict: `layers` MoE layers of `experts` per-expert experts,
// plus embeddings and norms; values count up so every element differs.
inline StateDict qwen3_moe_dict(int layers, int experts, int64_t I = 4, int64_t H = 8,
                                at::ScalarType dtype = at::kBFloat16) {
  StateDict sd;
  double next = 0;
  auto tensor = [&](std::vector<int64_t> shape) {
    at::Tensor t = counting(shape, next, at::kFloat).to(dtype);
    next += static_cast<double>(t.numel());
    return t;
  };
  sd.insert("model.embed_tokens.weight", tensor({16, H}));
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    sd.insert(p + "input_layernorm.weight", tensor({H}));
    sd.insert(p + "self_attn.q_proj.weight", tensor({H, H}));
    sd.insert(p + "mlp.gate.weight", tensor({experts, H}));
    for (int e = 0; e < experts; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      sd.insert(x + "gate_proj.weight", tensor({I, H}));
      sd.insert(x + "up_proj.weight", tensor({I, H}));
      sd.insert(x + "down_proj.weight", tensor({H, I}));
    }
  }
  sd.insert("model.norm.weight", tensor({H}));
  sd.insert("lm_head.weight", tensor({16, H}));
  return sd;
}

struct CommandResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
  long max_rss_kb = 0;
};

// Runs `args` (argv[0] is a path) with stdout and stderr captured to files. With a
// `timeout` (seconds), a command still running then is killed by SIGALRM (status 142), so
// that a command that would block forever fails the test instead of hanging it.
inline CommandResult run_command(const std::vector<std::string>& args,
                                 const std::string& scratch_dir, unsigned timeout = 0) {
  const std::string out_path = scratch_dir + "/.stdout", err_path = scratch_dir + "/.stderr";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!freopen(out_path.c_str(), "w", stdout) || !freopen(err_path.c_str(), "w", stderr))
      _exit(127);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (timeout > 0) alarm(timeout);  // survives the exec
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(wait4(pid, &status, 0, &usage) == pid);
  CommandResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  r.max_rss_kb = usage.ru_maxrss;
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

}  // namespace chainconv::testing
