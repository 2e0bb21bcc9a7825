#include "io/safetensors_header.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/json_parse.h"
#include "core/read_file.h"

namespace chainconv {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw Error(path + ": " + message);
}

[[noreturn]] void fail(const std::string& path, const std::string& key,
                       const std::string& message) {
  throw Error(path + ": tensor '" + key + "': " + message);
}

uint64_t unsigned_field(const std::string& path, const std::string& key, const json& value,
                        const char* what) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0))
    fail(path, key, std::string(what) + " must be a non-negative integer, found " + value.dump());
  return value.get<uint64_t>();
}

TensorEntry parse_entry(const std::string& path, const std::string& key, const json& info,
                        uint64_t data_size) {
  if (!info.is_object()) fail(path, key, "expected an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!info.contains(field)) fail(path, key, std::string("missing '") + field + "'");
  TensorEntry entry;
  entry.key = key;
  const json& dtype = info["dtype"];
  if (!dtype.is_string()) fail(path, key, "dtype must be a string");
  entry.dtype = find_dtype(dtype.get<std::string>());
  if (!entry.dtype) fail(path, key, "unknown dtype '" + dtype.get<std::string>() + "'");

  const json& shape = info["shape"];
  if (!shape.is_array()) fail(path, key, "shape must be a list of sizes");
  uint64_t elements = 1;
  bool overflow = false;
  for (const json& dim : shape) {
    uint64_t size = unsigned_field(path, key, dim, "a shape entry");
    if (size > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    entry.shape.push_back(static_cast<int64_t>(size));
    if (size != 0 && elements > UINT64_MAX / size) overflow = true;
    elements *= size;
  }
  if (overflow || elements > UINT64_MAX / entry.dtype->itemsize)
    fail(path, key, "shape " + shape.dump() + " is too large");
  entry.nbytes = elements * entry.dtype->itemsize;

  const json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail(path, key, "data_offsets must be [begin, end]");
  uint64_t begin = unsigned_field(path, key, offsets[0], "data_offsets[0]");
  uint64_t end = unsigned_field(path, key, offsets[1], "data_offsets[1]");
  if (begin > end) fail(path, key, "data_offsets " + offsets.dump() + " end before they begin");
  if (end > data_size)
    fail(path, key,
         "data_offsets " + offsets.dump() + " run past the end of the data section (" +
             std::to_string(data_size) + " bytes; the file is truncated or the header is wrong)");
  if (end - begin != entry.nbytes)
    fail(path, key,
         "data_offsets " + offsets.dump() + " hold " + std::to_string(end - begin) + " bytes but " +
             std::string(entry.dtype->name) + " " + shape.dump() + " needs " +
             std::to_string(entry.nbytes));
  entry.offset = begin;  // made absolute by the caller
  return entry;
}

std::string byte_range(uint64_t begin, uint64_t end) {
  return "bytes " + std::to_string(begin) + ".." + std::to_string(end);
}

// The reference implementation requires the tensors to tile the data section: bytes no
// tensor covers could carry anything past every check, so they are refused.
void check_tiling(const std::string& path, const std::vector<TensorEntry>& tensors,
                  uint64_t data_size) {
  uint64_t covered = 0;  // the data section is tiled up to here
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : tensors) {
    if (entry.offset < covered)
      fail(path, entry.key, "its bytes overlap those of '" + previous->key + "'");
    if (entry.offset > covered)
      fail(path, entry.key,
           "the data section's " + byte_range(covered, entry.offset) + " before it belong to " +
               (previous ? "no tensor (after '" + previous->key + "')" : std::string("no tensor")));
    covered = entry.offset + entry.nbytes;
    if (entry.nbytes > 0) previous = &entry;
  }
  if (covered != data_size)
    fail(path, "the data section's " + byte_range(covered, data_size) + " belong to no tensor" +
                   (previous ? " (after '" + previous->key + "')" : std::string()));
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::string& path, std::string_view text,
                                           uint64_t file_size,
                                           const std::function<bool()>& cancelled) {
  SafetensorsHeader header;
  header.path = path;
  header.file_size = file_size;
  header.data_start = 8 + text.size();
  if (header.data_start > file_size) fail(path, "the header runs past the end of the file");
  JsonParseOptions limits;
  limits.reject_duplicate_keys = true;
  limits.subject = "the header";
  limits.top_level_key = "tensor";
  limits.cancelled = cancelled;
  const json root = parse_json(text, path, limits);
  if (!root.is_object()) fail(path, "the header must be a JSON object");
  const uint64_t data_size = file_size - header.data_start;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ must be an object of strings");
      for (const auto& [name, v] : value.items()) {
        if (!v.is_string()) fail(path, "__metadata__ entry '" + name + "' must be a string");
        header.metadata[name] = v.get<std::string>();
      }
      continue;
    }
    if (header.tensors.size() % 4096 == 4095 && cancelled && cancelled())
      throw Error("interrupted");
    header.tensors.push_back(parse_entry(path, key, value, data_size));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
            });
  check_tiling(path, header.tensors, data_size);
  for (TensorEntry& entry : header.tensors) entry.offset += header.data_start;
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path,
                                          const std::function<bool()>& cancelled) {
  int fd = open_regular_file(path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8)
    fail(path, "too short to be a safetensors file (" + std::to_string(file_size) + " bytes)");
  auto read_at = [&](void* buffer, uint64_t n, uint64_t at) {
    uint64_t done = 0;
    while (done < n) {
      ssize_t got =
          pread(fd, static_cast<char*>(buffer) + done, n - done, static_cast<off_t>(at + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        fail(path, std::string("cannot read the header: ") +
                       (got < 0 ? std::strerror(errno) : "unexpected end of file"));
      done += static_cast<uint64_t>(got);
    }
  };
  unsigned char length_bytes[8];
  read_at(length_bytes, 8, 0);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | length_bytes[i];
  if (length > kMaxSafetensorsHeader)
    fail(path, "header length " + std::to_string(length) + " is not sane (the limit is " +
                   std::to_string(kMaxSafetensorsHeader) + " bytes; not a safetensors file?)");
  if (8 + length > file_size)
    fail(path, "header length " + std::to_string(length) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes; truncated?)");
  std::string text(length, '\0');
  read_at(text.data(), length, 8);
  return parse_safetensors_header(path, text, file_size, cancelled);
}

}  // namespace chainconv
