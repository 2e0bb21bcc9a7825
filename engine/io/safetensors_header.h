// The safetensors file format: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section the offsets are relative to.
//
// Reading validates everything a corrupt or hostile file could get wrong before a single
// tensor is touched; every error names the file and, where there is one, the tensor. No
// tensors here (see safetensors.h for those), so the header fuzzer links this alone.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtypes.h"

namespace chainconv {

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

// Reads and validates only the header (a few reads; the data is not touched). Refuses
// anything but a regular file without blocking. `cancelled` is polled while a large header
// is parsed; true throws Error("interrupted").
SafetensorsHeader read_safetensors_header(const std::string& path,
                                          const std::function<bool()>& cancelled = {});
// Validates header JSON `json` of a file of `file_size` bytes, named `path` in errors: every
// entry well formed, no tensor named twice, and the tensors' bytes tiling the data section
// exactly (no overlaps, no bytes that belong to no tensor), as the reference implementation
// requires.
SafetensorsHeader parse_safetensors_header(const std::string& path, std::string_view json,
                                           uint64_t file_size,
                                           const std::function<bool()>& cancelled = {});

}  // namespace chainconv
