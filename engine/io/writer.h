// Writes a safetensors checkpoint the way HuggingFace does: shards of at most a given size
// named model-00001-of-0000N.safetensors (or one model.safetensors), an index
// model.safetensors.index.json with metadata.total_size and the weight_map, header
// metadata {"format": "pt"}, keys in natural order, headers padded to 8 bytes.
//
// Every tensor's place is fixed up front (the shapes are known from the plan), so tensors
// can be written in any order, each straight into its place: copied file to file from
// byte runs of mapped inputs, or written from memory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/state_dict.h"
#include "io/byte_runs.h"

namespace chainconv {

class MappedFile;

// "5GB" (10^9), "500MB", "2GiB" (2^30), "1024" (bytes). Throws Error when malformed.
uint64_t parse_size(const std::string& text);
inline constexpr uint64_t kDefaultMaxShardSize = 5'000'000'000;

struct OutputTensor {
  std::string key;
  std::string dtype;  // safetensors name
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
};

class SafetensorsWriter {
 public:
  // Lays out `tensors` in shards of `dir` (which must exist) and creates the files at full
  // size with their headers. `check` is called between chunks of copying (to cancel, throw).
  SafetensorsWriter(std::string dir, std::vector<OutputTensor> tensors, uint64_t max_shard_size,
                    std::function<void()> check = {});
  ~SafetensorsWriter();

  const std::vector<std::string>& file_names() const { return names_; }
  bool has(const std::string& key) const { return slots_.count(key) > 0; }

  // Writes the tensor's bytes, `nbytes` of them, from memory.
  void write(const std::string& key, const void* data, uint64_t nbytes);
  // Writes a tensor from memory (contiguous copy made if needed; opaque dtypes as bytes).
  void write(const std::string& key, const Item& item);
  // Copies the tensor's bytes from runs of `sources` (file to file, in the kernel when it can).
  void copy(const std::string& key, const ByteRuns& runs,
            const std::vector<std::shared_ptr<MappedFile>>& sources);
  // Fills the tensor with zero bytes.
  void zero(const std::string& key);

  // Requires every tensor written, flushes the files to disk, and writes the index when
  // there is more than one shard. Throws Error naming what is missing.
  void finish();

 private:
  struct Slot {
    size_t file;
    uint64_t offset;
    uint64_t nbytes;
    bool written = false;
  };
  Slot& slot(const std::string& key, uint64_t nbytes);
  void pwrite_all(size_t file, const void* data, uint64_t nbytes, uint64_t offset);

  std::string dir_;
  std::vector<std::string> names_;
  std::vector<int> fds_;
  std::vector<uint64_t> shard_bytes_;
  std::map<std::string, Slot> slots_;
  std::map<std::string, std::string> weight_map_;
  std::function<void()> check_;
};

// Writes a whole in-memory state dict as a checkpoint's weights into `dir`.
void write_state_dict(const std::string& dir, const StateDict& dict,
                      uint64_t max_shard_size = kDefaultMaxShardSize);

}  // namespace chainconv
