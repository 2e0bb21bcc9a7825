// The models added in YAML alone (mixtral, qwen2_moe, olmoe, deepseek_v3) as a user meets them
// on the command line: `chainconv demo --model-type X` shows the roundtrip identical, and
// `synth` + `convert --verify` both ways gives back every tensor byte for byte, FP8 included.
#include "io/checkpoint.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

CommandResult run_cli(const Scratch& s, std::vector<std::string> args) {
  args.insert(args.begin(), CHAINCONV_CLI);
  return run_command(args, s.path());
}

struct Stored {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Every tensor of a checkpoint directory with its bytes, read straight from the files.
std::map<std::string, Stored> stored_tensors(const std::string& dir) {
  Checkpoint checkpoint = Checkpoint::open(dir);
  std::map<size_t, std::string> contents;
  std::map<std::string, Stored> out;
  for (const auto& [key, location] : checkpoint.tensors()) {
    auto [it, fresh] = contents.try_emplace(location.file);
    if (fresh) it->second = read_text(checkpoint.files()[location.file].path);
    const TensorEntry& e = *location.entry;
    out[key] = Stored{std::string(e.dtype->name), e.shape, it->second.substr(e.offset, e.nbytes)};
  }
  return out;
}

const char* kNewModels[] = {"mixtral", "qwen2_moe", "olmoe", "deepseek_v3"};

}  // namespace

TEST_CASE("demo converts each new model's tiny checkpoint both ways, identical") {
  for (const char* model : kNewModels) {
    INFO(model);
    Scratch s;
    CommandResult demo = run_cli(s, {"demo", "--model-type", model});
    INFO(demo.err);
    REQUIRE(demo.status == 0);
    CHECK_THAT(demo.out, Catch::Contains("chains/" + std::string(model) + ".yaml serves " + model));
    CHECK_THAT(demo.out, Catch::Contains("identical to the input (keys, dtypes, shapes, values)"));
  }
  // qwen2_moe also has the fused layout: it comes back per expert, as declared.
  Scratch s;
  CommandResult fused = run_cli(s, {"demo", "--model-type", "qwen2_moe", "--fused"});
  INFO(fused.err);
  REQUIRE(fused.status == 0);
  CHECK_THAT(fused.out, Catch::Contains("fused experts come back in the canonical per-expert"));
}

TEST_CASE("convert --verify takes each new model to prime and back byte for byte") {
  for (const char* model : kNewModels) {
    INFO(model);
    Scratch s;
    REQUIRE(run_cli(s, {"synth", model, s / "hf", "--seed", "5"}).status == 0);
    CommandResult to_prime =
        run_cli(s, {"convert", s / "hf", s / "prime", "--to", "prime", "--verify", "--no-sync"});
    INFO(to_prime.err);
    REQUIRE(to_prime.status == 0);
    CHECK_THAT(to_prime.out, Catch::Contains("identical except 0 declared lossy"));
    CommandResult to_hf =
        run_cli(s, {"convert", s / "prime", s / "back", "--to", "hf", "--verify", "--no-sync"});
    INFO(to_hf.err);
    REQUIRE(to_hf.status == 0);
    CHECK_THAT(to_hf.out, Catch::Contains("identical except 0 declared lossy"));

    const auto hf = stored_tensors(s / "hf"), back = stored_tensors(s / "back");
    REQUIRE(back.size() == hf.size());
    for (const auto& [key, t] : hf) {
      INFO(key);
      REQUIRE(back.count(key) == 1);
      CHECK(back.at(key).dtype == t.dtype);
      CHECK(back.at(key).shape == t.shape);
      CHECK(back.at(key).bytes == t.bytes);
    }
    CHECK(read_text(s / "back/config.json") == read_text(s / "hf/config.json"));
  }
}

TEST_CASE("deepseek_v3 on disk: FP8 experts and their F32 companions stacked as bytes") {
  Scratch s;
  REQUIRE(run_cli(s, {"synth", "deepseek_v3", s / "hf"}).status == 0);
  REQUIRE(run_cli(s, {"convert", s / "hf", s / "prime", "--to", "prime", "--no-sync", "--quiet"})
              .status == 0);
  const auto hf = stored_tensors(s / "hf"), prime = stored_tensors(s / "prime");
  const std::string mlp = "model.layers.2.mlp.";
  const Stored& w1 = prime.at(mlp + "experts.w1");
  const Stored& scales = prime.at(mlp + "experts.w1_scale_inv");
  CHECK(w1.dtype == "F8_E4M3");
  CHECK(w1.shape == std::vector<int64_t>{4, 4, 8});
  CHECK(scales.dtype == "F32");
  CHECK(scales.shape == std::vector<int64_t>{4, 1, 2});
  // Row e of a stack is expert e's bytes, in order.
  std::string w1_rows, scale_rows;
  for (int e = 0; e < 4; ++e) {
    std::string x = mlp + "experts." + std::to_string(e) + ".gate_proj.";
    w1_rows += hf.at(x + "weight").bytes;
    scale_rows += hf.at(x + "weight_scale_inv").bytes;
  }
  CHECK(w1.bytes == w1_rows);
  CHECK(scales.bytes == scale_rows);
  CHECK(prime.at(mlp + "shared_expert.w1_scale_inv").bytes ==
        hf.at(mlp + "shared_experts.gate_proj.weight_scale_inv").bytes);
  // Dense layer 0 and the attention companions keep their HF names and bytes.
  for (const char* key :
       {"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.gate_proj.weight_scale_inv",
        "model.layers.2.self_attn.kv_b_proj.weight_scale_inv"}) {
    INFO(key);
    CHECK(prime.at(key).bytes == hf.at(key).bytes);
  }
}
