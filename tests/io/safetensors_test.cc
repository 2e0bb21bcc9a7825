// Reading safetensors: every dtype round-trips with its bytes intact, views are zero-copy,
// and every malformed header is a clear error naming the file and the tensor.
#include <cstring>

#include "aten/dtypes.h"
#include "io/checkpoint.h"
#include "io/mapped_file.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// A tensor of the storage dtype of `name` whose bytes are 0, 1, 2, ... (mod 256).
Item patterned(const std::string& name, std::vector<int64_t> shape) {
  const DtypeInfo* info = find_dtype(name);
  REQUIRE(info != nullptr);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(storage_type(*info)));
  auto* p = static_cast<unsigned char*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel() * t.element_size(); ++i)
    p[i] = static_cast<unsigned char>(i * 7 + 3);
  if (info->kind == DtypeInfo::Kind::boolean)
    t = t.to(at::kByte).remainder(2).to(at::kBool);  // valid booleans only
  return Item{t, info->opaque() ? name : std::string()};
}

const std::vector<std::string> kAllDtypes = {"F64",     "F32", "F16", "BF16", "I64",     "I32",
                                             "I16",     "I8",  "U8",  "BOOL", "F8_E4M3", "F8_E5M2",
                                             "F8_E8M0", "U16", "U32", "U64"};

}  // namespace

TEST_CASE("every safetensors dtype round-trips through the writer and reader bytewise") {
  Scratch dir;
  StateDict sd;
  for (const std::string& name : kAllDtypes) sd.set("t." + name, patterned(name, {3, 5}));
  sd.set("t.empty", Item{at::empty({0, 4}, at::kFloat), {}});
  sd.set("t.scalar", Item{at::full({}, 2.5, at::kFloat), {}});
  write_state_dict(dir.path(), sd);

  Checkpoint ckpt = Checkpoint::open(dir.path());
  REQUIRE(ckpt.tensors().size() == sd.size());
  for (const auto& [key, item] : sd) {
    INFO(key);
    const TensorEntry& entry = *ckpt.locate(key).entry;
    CHECK(entry.dtype == &dtype_of(item));
    Item back = load_item(ckpt, key);
    CHECK(back.opaque_dtype == item.opaque_dtype);
    CHECK(back.tensor.scalar_type() == item.tensor.scalar_type());
    CHECK(back.tensor.sizes() == item.tensor.sizes());
    CHECK(bytes_of(back.tensor) == bytes_of(item.tensor));
  }
}

TEST_CASE("F8_E4M3 tensors are read as their raw bytes with the dtype name kept") {
  Scratch dir;
  std::string data;
  for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"w":{"dtype":"F8_E4M3","shape":[16,16],"data_offsets":[0,256]}})",
                        data);
  Checkpoint ckpt = Checkpoint::open(dir.path());
  Item w = load_item(ckpt, "w");
  CHECK(w.opaque_dtype == "F8_E4M3");
  CHECK(w.tensor.scalar_type() == at::kByte);
  CHECK(bytes_of(w.tensor) == data);
}

TEST_CASE("mapped tensors are views of the file mapping and keep it alive") {
  Scratch dir;
  write_state_dict(dir.path(), StateDict{{"a", counting({64})}, {"b", counting({8, 8}, 100)}});
  at::Tensor b;
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  {
    Checkpoint ckpt = Checkpoint::open(dir.path());
    auto mapping = ckpt.mapped(0);
    base = mapping->data();
    size = mapping->size();
    b = load_item(ckpt, "b").tensor;
  }
  auto* p = static_cast<const uint8_t*>(b.data_ptr());
  CHECK(p >= base);
  CHECK(p + 256 <= base + size);
  CHECK(at::equal(b, counting({8, 8}, 100)));  // still readable: the view holds the mapping
}

TEST_CASE("the layout of a sharded checkpoint is read from its headers as descriptions") {
  Scratch dir;
  StateDict sd = qwen3_moe_dict(3, 2);
  write_state_dict(dir.path(), sd, /*max_shard_size=*/600);
  REQUIRE(fs::exists(dir / "model.safetensors.index.json"));
  const std::vector<TensorSpec> layout = read_checkpoint_layout(dir.path());
  REQUIRE(layout.size() == sd.size());
  for (const TensorSpec& t : layout) {
    INFO(t.key);
    const Item& item = sd.item(t.key);
    CHECK(t.shape == item.tensor.sizes().vec());
    CHECK(t.dtype == &dtype_of(item));
  }
}

TEST_CASE("malformed safetensors files are clear errors naming the file and tensor") {
  Scratch dir;
  const std::string path = dir / "model.safetensors";
  auto error_of = [&]() -> std::string {
    try {
      Checkpoint::open(dir.path());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string good =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  const std::string data(16, '\1');

  SECTION("a file shorter than the length prefix") {
    write_text(path, "abc");
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("too short"));
  }
  SECTION("a header length past the end of the file") {
    write_raw_safetensors(path, good, data, 1 << 20);
    CHECK_THAT(error_of(),
               Catch::Contains(path) && Catch::Contains("runs past the end of the file"));
  }
  SECTION("an absurd header length") {
    write_raw_safetensors(path, good, data, 1ull << 40);
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("not sane"));
  }
  SECTION("a truncated file") {
    write_raw_safetensors(path, good, data.substr(0, 12));
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("tensor 'b'") &&
                               Catch::Contains("truncated"));
  }
  SECTION("overlapping offsets") {
    write_raw_safetensors(
        path,
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
        data);
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("tensor 'b'") &&
                               Catch::Contains("overlap") && Catch::Contains("'a'"));
  }
  SECTION("a byte size that does not match dtype and shape") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data);
    CHECK_THAT(error_of(), Catch::Contains("tensor 'a'") &&
                               Catch::Contains("hold 8 bytes but F32 [3] needs 12"));
  }
  SECTION("an unknown dtype") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", data);
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("tensor 'a'") &&
                               Catch::Contains("unknown dtype 'F12'"));
  }
  SECTION("a header that is not JSON") {
    write_raw_safetensors(path, R"({"a": {"dtype": "F32",)", data);
    CHECK_THAT(error_of(), Catch::Contains(path) && Catch::Contains("not valid JSON"));
  }
  SECTION("a missing field") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F32","shape":[2]}})", data);
    CHECK_THAT(error_of(),
               Catch::Contains("tensor 'a'") && Catch::Contains("missing 'data_offsets'"));
  }
  SECTION("a negative size") {
    write_raw_safetensors(path, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data);
    CHECK_THAT(error_of(), Catch::Contains("tensor 'a'") && Catch::Contains("non-negative"));
  }
}

TEST_CASE("an index that names a missing shard or disagrees with its shards is an error") {
  Scratch dir;
  write_state_dict(dir.path(), qwen3_moe_dict(2, 2), /*max_shard_size=*/600);
  const std::string index_path = dir / "model.safetensors.index.json";
  nlohmann::json index = nlohmann::json::parse(read_text(index_path));

  SECTION("a missing shard") {
    const std::string shard = index["weight_map"]["model.norm.weight"];
    fs::remove(dir / shard);
    CHECK_THROWS_WITH(Checkpoint::open(dir.path()),
                      Catch::Contains("names shard '" + shard + "', which does not exist"));
  }
  SECTION("a tensor listed but absent") {
    index["weight_map"]["model.layers.9.ghost.weight"] = index["weight_map"]["model.norm.weight"];
    write_text(index_path, index.dump());
    CHECK_THROWS_WITH(Checkpoint::open(dir.path()), Catch::Contains("model.layers.9.ghost.weight"));
  }
  SECTION("a shard name that leaves the directory") {
    index["weight_map"]["model.norm.weight"] = "../elsewhere.safetensors";
    write_text(index_path, index.dump());
    CHECK_THROWS_WITH(Checkpoint::open(dir.path()),
                      Catch::Contains("not a file name in the checkpoint directory"));
  }
}
