#include "aten/tensor_io.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "aten/dtypes.h"
#include "core/error.h"
#include "io/mapped_file.h"

namespace chainconv {

Item mapped_item(const std::shared_ptr<MappedFile>& file, const TensorEntry& entry) {
  if (entry.offset + entry.nbytes > file->size())
    throw Error(file->path() + ": tensor '" + entry.key +
                "' lies past the end of the file (it changed since its header was read?)");
  const auto options = at::TensorOptions().dtype(storage_type(*entry.dtype));
  std::string opaque = entry.dtype->opaque() ? std::string(entry.dtype->name) : std::string();
  if (entry.nbytes == 0) return Item{at::empty(entry.shape, options), opaque};
  void* data = const_cast<uint8_t*>(file->data() + entry.offset);
  // The mapping is read-only; no step writes into its inputs (they build new tensors).
  at::Tensor t = at::from_blob(
      data, entry.shape, [file](void*) {}, options);
  if (entry.offset % entry.dtype->itemsize != 0) t = t.clone();  // misaligned: compute on a copy
  return Item{t, opaque};
}

Item load_item(const Checkpoint& checkpoint, const std::string& key) {
  const Checkpoint::Location& loc = checkpoint.locate(key);
  return mapped_item(checkpoint.mapped(loc.file), *loc.entry);
}

void write_item(SafetensorsWriter& writer, const std::string& key, const Item& item) {
  if (item.tensor.is_meta()) throw Error("internal: tensor '" + key + "' has no data to write");
  at::Tensor t =
      item.tensor.device().is_cpu() ? item.tensor.contiguous() : item.tensor.cpu().contiguous();
  writer.write(key, t.data_ptr(), static_cast<uint64_t>(t.numel()) * t.element_size());
}

void write_state_dict(const std::string& dir, const StateDict& dict, uint64_t max_shard_size) {
  std::vector<OutputTensor> tensors;
  for (const auto& [key, item] : dict)
    tensors.push_back({key, std::string(dtype_of(item).name), item.tensor.sizes().vec(),
                       static_cast<uint64_t>(item.tensor.numel()) * item.tensor.element_size()});
  SafetensorsWriter writer(dir, std::move(tensors), max_shard_size);
  for (const auto& [key, item] : dict) write_item(writer, key, item);
  writer.finish();
}

}  // namespace chainconv
