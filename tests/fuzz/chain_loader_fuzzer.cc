// libFuzzer target: the chain loader (YAML -> compiled chain), load_chain_string, with
// includes resolved against the shipped chains directory so that the seed chains' pieces
// are there to use. A bad chain must throw Error (with a position); a crash, a hang (see
// -timeout in ./dev fuzz), another exception or a sanitizer report is a finding.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "dsl/chain.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    chainconv::load_chain_string(yaml, "fuzz.yaml", CHAINCONV_CHAINS_DIR);
  } catch (const chainconv::Error&) {
  }
  return 0;
}
