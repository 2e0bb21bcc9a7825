// Values the file executor cannot copy: the outputs of compute steps. They are made by the
// ATen executor, which lives in a plugin (chainconv_compute.so) loaded the first time a
// conversion needs it, so that tools which only move bytes never load LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "program/program.h"

namespace chainconv {

class ComputeBackend {
 public:
  virtual ~ComputeBackend() = default;
  // Plays `program` on its inputs' bytes in host memory (`inputs[i]` for input slot i, laid
  // out as its description says) and hands each output in `wanted` (indices into
  // program.outputs()) to `sink` as contiguous bytes. Throws Error.
  using Sink = std::function<void(size_t output, const void* data, uint64_t nbytes)>;
  virtual void run(const Program& program, const std::vector<const uint8_t*>& inputs,
                   const std::vector<size_t>& wanted, const Sink& sink) const = 0;
};

// The ATen backend, loaded on first use: from $CHAINCONV_COMPUTE_PLUGIN when set, else beside
// this binary (../lib/chainconv/ when installed), else from the build tree. Throws Error
// naming where it looked when it cannot load it.
const ComputeBackend& compute_backend();

// The symbol a plugin exports.
extern "C" {
typedef const ComputeBackend* (*ComputeBackendEntry)();
}
inline constexpr const char* kComputeBackendSymbol = "chainconv_compute_backend_v1";

}  // namespace chainconv
