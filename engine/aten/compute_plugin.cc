// The compute plugin (chainconv_compute.so): the ATen executor behind io/compute.h, loaded by
// tools that otherwise never touch LibTorch, when a conversion has computed steps.
#include <ATen/ops/from_blob.h>

#include <c10/util/Exception.h>

#include "aten/dtypes.h"
#include "aten/execute.h"
#include "io/compute.h"
#include "program/lineage.h"

namespace chainconv {
namespace {

class AtenBackend final : public ComputeBackend {
 public:
  void run(const Program& program, const std::vector<const uint8_t*>& inputs,
           const std::vector<size_t>& wanted, const Sink& sink) const override {
    try {
      std::vector<at::Tensor> tensors;
      tensors.reserve(inputs.size());
      for (uint32_t s = 0; s < program.inputs(); ++s) {
        const TensorDesc& d = program.desc(s);
        const auto options = at::TensorOptions().dtype(storage_type(*d.dtype));
        // Read only: no step writes into its inputs (they build new tensors).
        at::Tensor t = at::from_blob(const_cast<uint8_t*>(inputs[s]), d.shape, options);
        if (reinterpret_cast<uintptr_t>(inputs[s]) % d.dtype->itemsize != 0) t = t.clone();
        tensors.push_back(std::move(t));
      }
      // Only what the wanted outputs are made from: the rest of the group is copied as bytes.
      std::vector<at::Tensor> outputs =
          execute(program, std::move(tensors), steps_for(program, wanted));
      for (size_t i : wanted) {
        at::Tensor t = outputs.at(i).cpu().contiguous();
        sink(i, t.data_ptr(), static_cast<uint64_t>(t.numel()) * t.element_size());
      }
    } catch (const c10::Error& e) {
      throw Error(e.what_without_backtrace());
    }
  }
};

}  // namespace
}  // namespace chainconv

extern "C" __attribute__((visibility("default"))) const chainconv::ComputeBackend*
chainconv_compute_backend_v1() {
  static const chainconv::AtenBackend backend;
  return &backend;
}
