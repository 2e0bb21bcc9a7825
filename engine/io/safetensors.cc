#include "io/safetensors.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "core/error.h"
#include "io/mapped_file.h"

namespace chainconv {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& key,
                       const std::string& message) {
  throw Error(path + ": tensor '" + key + "': " + message);
}

}  // namespace

Item meta_item(const TensorEntry& entry) {
  at::Tensor t =
      at::empty(entry.shape, at::TensorOptions().dtype(entry.dtype->storage).device(at::kMeta));
  return Item{t, entry.dtype->opaque ? std::string(entry.dtype->name) : std::string()};
}

Item mapped_item(const std::shared_ptr<MappedFile>& file, const TensorEntry& entry) {
  if (entry.offset + entry.nbytes > file->size())
    fail(file->path(), entry.key,
         "lies past the end of the file (it changed since its header was read?)");
  const auto options = at::TensorOptions().dtype(entry.dtype->storage);
  std::string opaque = entry.dtype->opaque ? std::string(entry.dtype->name) : std::string();
  if (entry.nbytes == 0) return Item{at::empty(entry.shape, options), opaque};
  void* data = const_cast<uint8_t*>(file->data() + entry.offset);
  // The mapping is read-only; no op writes into its inputs (they build new tensors).
  at::Tensor t = at::from_blob(
      data, entry.shape, [file](void*) {}, options);
  if (entry.offset % entry.dtype->itemsize != 0) t = t.clone();  // misaligned: compute on a copy
  return Item{t, opaque};
}

}  // namespace chainconv
