// Converting checkpoint directories: correct bytes both ways, sharded in and out, FP8 moved
// as bytes, value transforms computed, other files copied, the source never touched, and
// every failure leaving nothing behind.
#include <ATen/ATen.h>

#include "io/checkpoint.h"
#include "io/convert.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// Every file of a directory with its contents, to show it did not change.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = read_text(e.path().string());
  return files;
}

ConvertOptions to(Direction d, bool verify = false) {
  ConvertOptions o;
  o.direction = d;
  o.verify = verify;
  return o;
}

StateDict load_all(const std::string& dir) {
  Checkpoint ckpt = Checkpoint::open(dir);
  StateDict sd;
  for (const auto& [key, loc] : ckpt.tensors()) sd.insert(key, load_item(ckpt, key));
  return sd;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a qwen3_moe checkpoint converts to prime with experts stacked and back identically") {
  Scratch s;
  const StateDict hf = qwen3_moe_dict(2, 4);
  write_checkpoint(s / "src", hf, "qwen3_moe");
  write_text(s / "src/tokenizer.json", "{\"tokens\": []}");
  write_text(s / "src/generation_config.json", "{}");
  fs::create_directories(s / "src/original");
  const auto before = snapshot(s / "src");

  ConvertResult r =
      convert_checkpoint(s / "src", s / "prime", to(Direction::to_prime, /*verify=*/true));
  REQUIRE(r.verify.has_value());
  CHECK(r.verify->ok());
  CHECK(r.verify->lossy.empty());
  CHECK(r.copied_files == std::vector<std::string>{"config.json", "generation_config.json",
                                                   "original/ (0 files)", "tokenizer.json"});
  CHECK(r.skipped.empty());
  CHECK(read_text(s / "prime/tokenizer.json") == "{\"tokens\": []}");
  // Per layer the router gate is renamed and 4 experts x 3 projections stack into w1, w2, w3;
  // embeddings, norms, lm_head, input_layernorm and q_proj keep their keys.
  CHECK(r.summary.of(Made::stacked) == 6);
  CHECK(r.summary.of(Made::moved) == 2);
  CHECK(r.summary.of(Made::unchanged) == 3 + 2 * 2);
  CHECK(r.summary.outputs() == hf.size() - 24 + 6);

  StateDict prime = load_all(s / "prime");
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    std::vector<at::Tensor> gates, downs;
    for (int e = 0; e < 4; ++e) {
      gates.push_back(hf.at(p + "experts." + std::to_string(e) + ".gate_proj.weight"));
      downs.push_back(hf.at(p + "experts." + std::to_string(e) + ".down_proj.weight"));
    }
    CHECK(bytes_of(prime.at(p + "experts.w1")) == bytes_of(at::stack(gates)));
    CHECK(bytes_of(prime.at(p + "experts.w2")) == bytes_of(at::stack(downs)));
    CHECK(at::equal(prime.at(p + "router.gate.weight"), hf.at(p + "gate.weight")));
  }

  convert_checkpoint(s / "prime", s / "back", to(Direction::to_hf));
  require_same(load_all(s / "back"), hf);
  CHECK(snapshot(s / "src") == before);
  CHECK(s.entries() == std::vector<std::string>{"back", "prime", "src"});
}

TEST_CASE("sharded input converts into sharded output with an index") {
  Scratch s;
  const StateDict hf = qwen3_moe_dict(3, 2);
  write_checkpoint(s / "src", hf, "qwen3_moe", /*max_shard_size=*/500);
  REQUIRE(Checkpoint::open(s / "src").files().size() > 2);
  ConvertOptions o = to(Direction::to_prime, /*verify=*/true);
  o.max_shard_size = 700;
  ConvertResult r = convert_checkpoint(s / "src", s / "dst", o);
  CHECK(r.verify->ok());
  CHECK(r.shards > 2);
  nlohmann::json index = nlohmann::json::parse(read_text(s / "dst/model.safetensors.index.json"));
  CHECK(index["weight_map"].contains("model.layers.2.mlp.experts.w3"));
  uint64_t total = 0;
  for (const auto& [key, item] : hf)
    total += static_cast<uint64_t>(item.tensor.numel()) * item.tensor.element_size();
  CHECK(index["metadata"]["total_size"] == total);  // stacking moves bytes, it adds none
}

TEST_CASE("copy threads, sync or not, write the same files as one thread") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(3, 4), "qwen3_moe", /*max_shard_size=*/500);
  auto files_of = [&](const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::directory_iterator(dir))
      files[e.path().filename().string()] = read_text(e.path().string());
    return files;
  };
  for (Direction d : {Direction::to_prime, Direction::to_hf}) {
    const std::string src = d == Direction::to_prime ? s / "src" : s / "one-to_prime";
    const std::string name = d == Direction::to_prime ? "to_prime" : "to_hf";
    ConvertOptions one = to(d);
    one.max_shard_size = 700;
    one.copy_threads = 1;
    convert_checkpoint(src, s / ("one-" + name), one);
    for (unsigned threads : {2u, 4u}) {
      ConvertOptions many = one;
      many.copy_threads = threads;
      many.sync_to_disk = threads == 4;
      const std::string dst = s / ("many-" + name);
      ConvertResult r = convert_checkpoint(src, dst, many);
      CHECK(r.shards > 2);
      CHECK(files_of(dst) == files_of(s / ("one-" + name)));
      fs::remove_all(dst);
    }
  }
}

TEST_CASE("a copied tensor keeps its offset within a page, the header padded to match") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(2, 4), "qwen3_moe");
  convert_checkpoint(s / "src", s / "prime", to(Direction::to_prime));
  convert_checkpoint(s / "prime", s / "back", to(Direction::to_hf));
  Checkpoint src = Checkpoint::open(s / "src"), back = Checkpoint::open(s / "back");
  uint64_t kept = 0, total = 0;
  for (const auto& [key, loc] : back.tensors()) {
    total += loc.entry->nbytes;
    if (loc.entry->offset % kPageSize == src.locate(key).entry->offset % kPageSize)
      kept += loc.entry->nbytes;
  }
  // Both ways the header padding lines the bulk of the bytes up with their source pages.
  CHECK(kept * 2 > total);
  require_same(load_all(s / "back"), load_all(s / "src"));
}

TEST_CASE("FP8 experts are stacked as their bytes") {
  Scratch s;
  StateDict hf;
  std::vector<at::Tensor> raw;
  for (int e = 0; e < 3; ++e) {
    at::Tensor bytes =
        at::arange(e * 40, e * 40 + 40, at::kInt).remainder(256).to(at::kByte).reshape({5, 8});
    raw.push_back(bytes);
    for (const char* proj : {"gate_proj", "up_proj", "down_proj"})
      hf.insert("model.layers.0.mlp.experts." + std::to_string(e) + "." + proj + ".weight",
                Item{bytes, "F8_E4M3"});
  }
  hf.insert("model.layers.0.mlp.experts.0.gate_proj.weight_scale_inv", counting({1}));
  write_checkpoint(s / "src", hf, "qwen3_moe");
  ConvertResult r =
      convert_checkpoint(s / "src", s / "dst", to(Direction::to_prime, /*verify=*/true));
  CHECK(r.verify->ok());
  Checkpoint out = Checkpoint::open(s / "dst");
  const TensorEntry& w1 = *out.locate("model.layers.0.mlp.experts.w1").entry;
  CHECK(w1.dtype->name == "F8_E4M3");
  CHECK(w1.shape == std::vector<int64_t>{3, 5, 8});
  CHECK(bytes_of(load_item(out, "model.layers.0.mlp.experts.w1").tensor) ==
        bytes_of(at::stack(raw)));
  // The scale is not a weight of an expert: it passes through under its own name.
  CHECK(out.tensors().count("model.layers.0.mlp.experts.0.gate_proj.weight_scale_inv") == 1);
}

TEST_CASE("a value transform is computed from the real values and reported lossy by verify") {
  Scratch s;
  write_text(s / "shift.yaml", R"(version: 1
model_types: [shift_test]
description: rename and shift a bias, stack experts
ops:
  - rename: {from: "model.layers.{layer}.gate.bias", to: "model.layers.{layer}.router.bias"}
  - map: {key: "model.layers.{layer}.router.bias", forward: subtract_min, backward: identity, lossy: "the shift is not undone"}
  - stack: {from: "model.layers.{layer}.experts.{expert}.w", to: "model.layers.{layer}.experts.w"}
)");
  StateDict hf{{"model.layers.0.gate.bias", counting({4}, 3)},
               {"model.layers.0.experts.0.w", counting({2, 2})},
               {"model.layers.0.experts.1.w", counting({2, 2}, 4)},
               {"model.norm.weight", counting({2})}};
  write_checkpoint(s / "src", hf, "shift_test");
  ConvertOptions o = to(Direction::to_prime, /*verify=*/true);
  o.chain_file = s / "shift.yaml";
  ConvertResult r = convert_checkpoint(s / "src", s / "dst", o);
  REQUIRE(r.verify->ok());
  REQUIRE(r.verify->lossy.size() == 1);
  CHECK_THAT(r.verify->lossy[0], Catch::Contains("model.layers.0.gate.bias") &&
                                     Catch::Contains("the shift is not undone") &&
                                     Catch::Contains("shift.yaml:6"));
  CHECK(r.summary.computed == 1);
  StateDict prime = load_all(s / "dst");
  CHECK(
      at::equal(prime.at("model.layers.0.router.bias"), counting({4}, 0)));  // 3..6 shifted to 0..3
  CHECK(at::equal(prime.at("model.layers.0.experts.w"), counting({2, 2, 2})));
}

TEST_CASE("a value transform on FP8 bytes is a clear error and leaves nothing") {
  Scratch s;
  write_text(s / "neg.yaml", R"(version: 1
model_types: [neg_test]
description: negate
ops:
  - map: {key: "w", forward: negate, backward: negate}
)");
  write_checkpoint(s / "src", StateDict{}, "neg_test");
  write_raw_safetensors(s / "src/model.safetensors",
                        R"({"w":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}})", "ab");
  ConvertOptions o = to(Direction::to_prime);
  o.chain_file = s / "neg.yaml";
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "dst", o); }),
             Catch::Contains("neg.yaml:5") && Catch::Contains("F8_E5M2 only moves as bytes"));
  CHECK(s.entries() == std::vector<std::string>{"neg.yaml", "src"});
}

TEST_CASE("an existing destination is refused unless forced") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  fs::create_directories(s / "dst");
  write_text(s / "dst/keep.txt", "old");
  // The library says what is wrong; the advice on the CLI's flags is the CLI's (cli_test).
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "dst", to(Direction::to_prime)); }),
             Catch::Contains("already exists") && !Catch::Contains("--force"));
  CHECK(read_text(s / "dst/keep.txt") == "old");

  ConvertOptions forced = to(Direction::to_prime);
  forced.force = true;
  convert_checkpoint(s / "src", s / "dst", forced);
  CHECK_FALSE(fs::exists(s / "dst/keep.txt"));
  CHECK(fs::exists(s / "dst/model.safetensors"));
  CHECK(s.entries() == std::vector<std::string>{"dst", "src"});

  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "src", forced); }),
             Catch::Contains("is the source"));
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "src/inner", forced); }),
             Catch::Contains("lies inside it"));
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s.path(), forced); }),
             Catch::Contains("source lies inside"));
  CHECK(fs::exists(s / "src/model.safetensors"));
}

TEST_CASE("bad inputs are clear errors and leave no destination") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  const std::string weights = s / "src/model.safetensors";
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string expected;
  SECTION("truncated file") {
    std::string bytes = read_text(weights);
    write_text(weights, bytes.substr(0, bytes.size() - 10));
    expected = "truncated";
  }
  SECTION("header length past EOF") {
    write_raw_safetensors(weights, good, std::string(8, '\0'), 4096);
    expected = "runs past the end of the file";
  }
  SECTION("overlapping offsets") {
    write_raw_safetensors(
        weights,
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        std::string(8, '\0'));
    expected = "overlap";
  }
  SECTION("wrong byte size") {
    write_raw_safetensors(weights, R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})",
                          std::string(8, '\0'));
    expected = "needs 4";
  }
  SECTION("unknown dtype") {
    write_raw_safetensors(weights, R"({"a":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})",
                          std::string(8, '\0'));
    expected = "unknown dtype 'Q4_K'";
  }
  SECTION("missing config.json") {
    fs::remove(s / "src/config.json");
    expected = "no config.json";
  }
  SECTION("unknown model_type") {
    write_text(s / "src/config.json", R"({"model_type": "no_such_model"})");
    expected = "no chain serves model_type 'no_such_model'";
  }
  SECTION("index naming a missing shard") {
    write_text(s / "src/model.safetensors.index.json",
               R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors"}})");
    expected = "names shard 'model-00001-of-00002.safetensors', which does not exist";
  }
  const auto before = snapshot(s / "src");
  CHECK_THAT(
      error_of([&] { convert_checkpoint(s / "src", s / "dst", to(Direction::to_prime, true)); }),
      Catch::Contains(expected));
  CHECK(s.entries() == std::vector<std::string>{"src"});
  CHECK(snapshot(s / "src") == before);
}

TEST_CASE("a cancelled conversion stops and removes its temporary directory") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(4, 2), "qwen3_moe");
  ConvertOptions o = to(Direction::to_prime);
  int polls = 0;
  o.cancelled = [&] { return ++polls > 5; };
  CHECK_THAT(error_of([&] { convert_checkpoint(s / "src", s / "dst", o); }),
             Catch::Contains("interrupted"));
  CHECK(polls > 5);
  CHECK(s.entries() == std::vector<std::string>{"src"});
}

TEST_CASE("verify finds a converted tensor that does not match the source") {
  Scratch s;
  write_checkpoint(s / "src", qwen3_moe_dict(1, 2), "qwen3_moe");
  convert_checkpoint(s / "src", s / "dst", to(Direction::to_prime));
  // Corrupt the last byte of data (the file is written widest dtype first; all are BF16 here).
  std::string bytes = read_text(s / "dst/model.safetensors");
  bytes.back() = static_cast<char>(bytes.back() ^ 0x5a);
  write_text(s / "dst/model.safetensors", bytes);
  ConvertOptions o = to(Direction::to_prime);
  ConversionPlan plan = plan_conversion(s / "src", o);
  VerifyReport report = verify_conversion(plan, s / "dst", o);
  CHECK_FALSE(report.ok());
  REQUIRE(report.failures.size() == 1);
  CHECK_THAT(report.failures[0], Catch::Contains("values differ"));
  CHECK(s.entries() == std::vector<std::string>{"dst", "src"});
}
