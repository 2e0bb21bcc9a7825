// The safetensors file format: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section the offsets are relative to.
//
// Reading validates everything a corrupt or hostile file could get wrong before a single
// tensor is touched; every error names the file and, where there is one, the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtypes.h"

namespace chainconv {

class MappedFile;

// The safetensors reference implementation refuses larger headers; so do we.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct TensorEntry {
  std::string key;
  const DtypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute position in the file (data section start + begin)
  uint64_t nbytes = 0;
};

struct SafetensorsHeader {
  std::string path;
  uint64_t file_size = 0;
  uint64_t data_start = 0;           // 8 + N
  std::vector<TensorEntry> tensors;  // in file order (by offset)
  std::map<std::string, std::string> metadata;
};

// Reads and validates only the header (a few reads; the data is not touched).
SafetensorsHeader read_safetensors_header(const std::string& path);
// Validates header JSON `json` of a file of `file_size` bytes, named `path` in errors.
SafetensorsHeader parse_safetensors_header(const std::string& path, std::string_view json,
                                           uint64_t file_size);


}  // namespace chainconv
