// Writing checkpoints like HuggingFace: shard names and sizes, the index, header metadata,
// natural key order, 8-byte aligned headers.
#include "io/checkpoint.h"
#include "io/safetensors_header.h"
#include "io_support.h"

using namespace chainconv;
using namespace chainconv::testing;

namespace {

// The JSON header text of a safetensors file, and its declared length.
std::pair<std::string, uint64_t> raw_header(const std::string& path) {
  std::string bytes = read_text(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[i]);
  return {bytes.substr(8, n), n};
}

}  // namespace

TEST_CASE("shards are named like HF's and the index lists every tensor with the total size") {
  Scratch dir;
  // Ten F32 tensors of 400 bytes each, named so that natural and lexicographic order differ.
  StateDict sd;
  for (int i = 0; i < 12; ++i)
    sd.insert("layers." + std::to_string(i) + ".w", counting({100}, i * 1000));
  write_state_dict(dir.path(), sd, /*max_shard_size=*/1000);  // two tensors per shard

  std::vector<std::string> expected_files;
  for (int s = 1; s <= 6; ++s)
    expected_files.push_back("model-0000" + std::to_string(s) + "-of-00006.safetensors");
  for (const std::string& f : expected_files) CHECK(fs::exists(dir / f));
  CHECK_FALSE(fs::exists(dir / "model.safetensors"));

  nlohmann::json index = nlohmann::json::parse(read_text(dir / "model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == 4800);
  REQUIRE(index["weight_map"].size() == 12);
  // Shards fill in natural key order (layers.2 before layers.10), and so does the index.
  for (int i = 0; i < 12; ++i)
    CHECK(index["weight_map"]["layers." + std::to_string(i) + ".w"] == expected_files[i / 2]);
  std::string text = read_text(dir / "model.safetensors.index.json");
  CHECK(text.find("\"layers.2.w\"") < text.find("\"layers.10.w\""));

  Checkpoint ckpt = Checkpoint::open(dir.path());
  for (int i = 0; i < 12; ++i)
    CHECK(at::equal(load_item(ckpt, "layers." + std::to_string(i) + ".w").tensor,
                    counting({100}, i * 1000)));
}

TEST_CASE("a header has format pt metadata and natural key order and an 8-byte aligned length") {
  Scratch dir;
  StateDict sd;
  for (int i : {10, 2, 1})
    sd.insert("model.layers." + std::to_string(i) + ".w", counting({3}, i, at::kBFloat16));
  sd.insert("model.layers.2.b", Item{at::zeros({5}, at::kByte), "F8_E4M3"});  // odd size
  write_state_dict(dir.path(), sd);
  REQUIRE(fs::exists(dir / "model.safetensors"));
  CHECK_FALSE(fs::exists(dir / "model.safetensors.index.json"));  // one shard: no index, as HF does

  auto [text, length] = raw_header(dir / "model.safetensors");
  CHECK(length % 8 == 0);
  nlohmann::json header = nlohmann::json::parse(text);
  CHECK(header["__metadata__"] == nlohmann::json({{"format", "pt"}}));
  CHECK(text.find("model.layers.1.w") < text.find("model.layers.2.b"));
  CHECK(text.find("model.layers.2.b") < text.find("model.layers.2.w"));
  CHECK(text.find("model.layers.2.w") < text.find("model.layers.10.w"));
  // Wider dtypes first in the data section keep every tensor aligned to its item size.
  SafetensorsHeader parsed = read_safetensors_header(dir / "model.safetensors");
  for (const TensorEntry& e : parsed.tensors) CHECK(e.offset % e.dtype->itemsize == 0);
}

TEST_CASE("the header is padded so that the most bytes start at their wished page phase") {
  Scratch dir;
  // "big" wants offset 1000 within a page, "small" (fewer bytes) wants 8: big wins.
  std::vector<OutputTensor> specs = {
      {"big", "F32", {1024}, 4096, 1000}, {"small", "F32", {2}, 8, 8}, {"free", "F32", {1}, 4}};
  SafetensorsWriter writer(dir.path(), specs, 1'000'000);
  std::vector<char> zeros(4096, 0);
  for (const OutputTensor& t : specs) writer.write(t.key, zeros.data(), t.nbytes);
  writer.finish();
  auto [text, length] = raw_header(dir / "model.safetensors");
  CHECK(length % 8 == 0);
  CHECK(text.find_last_not_of(' ') < length - 8);  // padded with spaces
  SafetensorsHeader parsed = read_safetensors_header(dir / "model.safetensors");
  for (const TensorEntry& e : parsed.tensors)
    if (e.key == "big") CHECK(e.offset % kPageSize == 1000);
}

TEST_CASE("a tensor larger than the shard limit gets a shard of its own") {
  Scratch dir;
  StateDict sd{{"a", counting({10})}, {"b", counting({1000})}, {"c", counting({10})}};
  write_state_dict(dir.path(), sd, /*max_shard_size=*/100);
  nlohmann::json index = nlohmann::json::parse(read_text(dir / "model.safetensors.index.json"));
  CHECK(index["weight_map"]["a"] == "model-00001-of-00003.safetensors");
  CHECK(index["weight_map"]["b"] == "model-00002-of-00003.safetensors");
  CHECK(index["weight_map"]["c"] == "model-00003-of-00003.safetensors");
}

TEST_CASE("the writer refuses duplicate keys and unwritten tensors") {
  Scratch dir;
  CHECK_THROWS_WITH(SafetensorsWriter(dir / "", {{"a", "F32", {1}, 4}, {"a", "F32", {1}, 4}}, 100),
                    Catch::Contains("two output tensors are named 'a'"));
  Scratch other;
  SafetensorsWriter writer(other.path(), {{"a", "F32", {1}, 4}, {"b", "F32", {1}, 4}}, 100);
  float one = 1;
  writer.write("a", &one, 4);
  CHECK_THROWS_WITH(writer.finish(), Catch::Contains("'b' was planned but never written"));
}

TEST_CASE("headers and the index are the JSON nlohmann would write, keys in natural order") {
  Scratch dir;
  StateDict sd;
  for (int i = 0; i < 12; ++i)
    sd.insert("layers." + std::to_string(i) + ".w\"q", counting({5, 2}, i * 10));  // a quote
  write_state_dict(dir.path(), sd, /*max_shard_size=*/200);
  // The index, re-dumped by nlohmann with its own formatting, is the file byte for byte.
  const std::string index_text = read_text(dir / "model.safetensors.index.json");
  CHECK(nlohmann::ordered_json::parse(index_text).dump(2) + "\n" == index_text);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() != ".safetensors") continue;
    auto [header, n] = raw_header(entry.path().string());
    const std::string json = header.substr(0, header.find_last_not_of(' ') + 1);
    CHECK(nlohmann::ordered_json::parse(json).dump() == json);
  }
}
