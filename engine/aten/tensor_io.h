// Safetensors checkpoints as tensors: a tensor of a checkpoint as a zero-copy view of its
// mapped file, and a state dict written as a checkpoint. (The file executor copies bytes
// without tensors; these are for the ATen side: computed steps, tests, tools.)
#pragma once

#include <memory>
#include <string>

#include "aten/state_dict.h"
#include "io/checkpoint.h"
#include "io/writer.h"

namespace chainconv {

class MappedFile;

// A zero-copy view of the entry's bytes in `file` (which must be the entry's file); the
// tensor keeps the mapping alive. Opaque dtypes (FP8, ...) come back as same-width integer
// tensors with Item::opaque_dtype set.
Item mapped_item(const std::shared_ptr<MappedFile>& file, const TensorEntry& entry);
// One tensor of a checkpoint, as such a view.
Item load_item(const Checkpoint& checkpoint, const std::string& key);

// Writes a tensor from memory (a contiguous copy made if needed; opaque dtypes as bytes).
void write_item(SafetensorsWriter& writer, const std::string& key, const Item& item);
// Writes a whole in-memory state dict as a checkpoint's weights into `dir`.
void write_state_dict(const std::string& dir, const StateDict& dict,
                      uint64_t max_shard_size = kDefaultMaxShardSize);

}  // namespace chainconv
