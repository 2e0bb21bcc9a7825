// libFuzzer target: the model.safetensors.index.json parser. A parse either throws Error or
// returns shard names that stay inside the checkpoint directory; anything else aborts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "io/safetensors_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& [key, file] : chainconv::parse_safetensors_index("fuzz.json", text))
      if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
        std::abort();
  } catch (const chainconv::Error&) {
  }
  return 0;
}
