// libFuzzer target: the safetensors header parser. The input is 8 bytes giving the size of
// the data section (mod 1 MiB) followed by the header JSON. A parse either throws Error or
// returns tensors that tile the data section exactly; anything else aborts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_size = 0;
  for (int i = 7; i >= 0; --i) data_size = data_size << 8 | data[i];
  data_size %= 1 << 20;
  const std::string_view json(reinterpret_cast<const char*>(data) + 8, size - 8);
  const uint64_t file_size = 8 + json.size() + data_size;
  try {
    chainconv::SafetensorsHeader header =
        chainconv::parse_safetensors_header("fuzz.safetensors", json, file_size);
    uint64_t end = header.data_start;
    for (const chainconv::TensorEntry& e : header.tensors) {
      if (e.offset != end || e.dtype == nullptr) std::abort();
      end += e.nbytes;
    }
    if (end != file_size) std::abort();
  } catch (const chainconv::Error&) {
  }
  return 0;
}
