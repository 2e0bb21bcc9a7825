// A checkpoint directory as HuggingFace writes it: config.json plus either one
// model.safetensors or model.safetensors.index.json naming its shards. Opening reads and
// validates the headers only; tensor data is mapped on demand.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor_desc.h"
#include "io/safetensors_header.h"

namespace chainconv {

class MappedFile;

inline constexpr const char* kSingleFile = "model.safetensors";
inline constexpr const char* kIndexFile = "model.safetensors.index.json";

class Checkpoint {
 public:
  // Reads the headers of every weight file of `dir`; throws Error naming the file (and
  // tensor) for a missing or malformed file, an index naming a missing shard, or a tensor
  // the index and the shards disagree about. `cancelled` is polled between shards and
  // while a header is parsed; true throws Error("interrupted").
  static Checkpoint open(const std::string& dir, const std::function<bool()>& cancelled = {});

  struct Location {
    size_t file;  // index into files()
    const TensorEntry* entry;
  };

  const std::string& dir() const { return dir_; }
  const std::vector<SafetensorsHeader>& files() const { return *files_; }
  const std::map<std::string, Location>& tensors() const { return tensors_; }
  const Location& locate(const std::string& key) const;
  uint64_t total_bytes() const;

  // The mapping of weight file `index` (mapped on first use, shared afterwards).
  std::shared_ptr<MappedFile> mapped(size_t index) const;
  // Every tensor's key, shape and dtype, in key order.
  std::vector<TensorSpec> specs() const;

 private:
  std::string dir_;
  std::shared_ptr<std::vector<SafetensorsHeader>> files_;
  std::map<std::string, Location> tensors_;
  std::shared_ptr<std::vector<std::shared_ptr<MappedFile>>> mappings_;
};

// The names, dtypes and shapes of a checkpoint directory's tensors (no data is read): the
// layout the checks run a chain on.
std::vector<TensorSpec> read_checkpoint_layout(const std::string& dir);

// The "model_type" field of config.json; throws Error if missing.
std::string read_model_type(const std::string& dir);

}  // namespace chainconv
