// Where every output tensor goes, decided before a byte is written: which shard, at which
// offset, under which header. HuggingFace's rules: shards of at most a given size named
// model-00001-of-0000N.safetensors (or one model.safetensors), header metadata
// {"format": "pt"}, keys in natural order, headers padded to 8 bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace chainconv {

inline constexpr uint64_t kPageSize = 4096;

struct OutputTensor {
  std::string key;
  std::string dtype;  // safetensors name
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
  // Where the tensor would like to start modulo kPageSize (-1: anywhere): a tensor copied
  // from a file copies fastest when its bytes keep their offset within a page. The header
  // is padded (with spaces, as the format allows) so that most bytes get their wish.
  int64_t page_phase = -1;
};

struct ShardLayout {
  struct Place {
    const OutputTensor* tensor;
    uint64_t offset;  // from the start of the file
  };
  std::string name;    // model-0000i-of-0000N.safetensors
  std::string header;  // the JSON header, padded; the file starts with its 8-byte length
  uint64_t data_start = 0, data_size = 0;
  std::vector<Place> places;  // in natural key order

  uint64_t file_size() const { return data_start + data_size; }
};

// Sorts `tensors` naturally (the layout points into them: keep them alive and unchanged) and
// lays them out. Throws Error for two tensors of one name or a dtype it does not know. `check`
// is called between shards (thousands of shards take a while).
std::vector<ShardLayout> layout_shards(std::vector<OutputTensor>& tensors, uint64_t max_shard_size,
                                       const std::function<void()>& check = {});

}  // namespace chainconv
