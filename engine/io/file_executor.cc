#include "io/file_executor.h"

#include <cstring>
#include <optional>

#include "core/error.h"
#include "io/compute.h"

namespace chainconv {
namespace {

class ByteExecutor {
 public:
  ByteExecutor(const Program& program, const std::vector<ByteRun>& inputs)
      : program_(program), storage_(program.slots()), computed_(program.slots(), false) {
    if (inputs.size() != program.inputs()) throw Error("internal: input locations do not match");
    for (uint32_t s = 0; s < program.inputs(); ++s) {
      if (inputs[s].length != program.desc(s).nbytes())
        throw Error("internal: input '" + program.name(s) + "' does not match its file location");
      storage_[s] = ByteRuns(inputs[s]);
    }
    for (const Step& step : program.steps()) play(step);
  }

  OutputBytes bytes_of(uint32_t slot) const {
    const TensorDesc& d = program_.desc(slot);
    OutputBytes out;
    if (d.nbytes() == 0) return out;
    const int32_t producer = program_.producer(d.storage);
    if (computed_[d.storage]) {
      out.from = OutputBytes::From::computed;
    } else if (producer >= 0 && program_.step(producer).kind == StepKind::create) {
      out.from = OutputBytes::From::zeros;
    } else if (scattered(d)) {
      out.from = OutputBytes::From::computed;
    } else {
      out.runs = view(d, *storage_[d.storage]);
    }
    return out;
  }

 private:
  // The runs of the bytes `d` names in its storage, whose runs are `base`.
  static ByteRuns view(const TensorDesc& d, const ByteRuns& base) {
    ByteRuns out;
    const uint64_t itemsize = d.dtype->itemsize;
    for_each_view_block(
        d.shape, d.strides, static_cast<int64_t>(d.offset / itemsize), itemsize,
        [&](uint64_t begin, uint64_t length) { out.append(base.slice(begin, begin + length)); });
    return out;
  }

  // A view whose innermost dim is not contiguous (a permute moved it) is one run per
  // element: copying it run by run would cost a system call per element, so ATen gathers it
  // in memory instead (small ones stay runs).
  static bool scattered(const TensorDesc& d) {
    if (d.nbytes() <= kScatteredBytes) return false;
    for (size_t i = d.shape.size(); i-- > 0;)
      if (d.shape[i] != 1) return d.strides[i] != 1;
    return false;
  }
  static constexpr uint64_t kScatteredBytes = 4096;

  // A step that makes data gets its storage's runs, or is marked computed (its values, and
  // any data made from them, need the ATen executor).
  void play(const Step& step) {
    if (!makes_data(step.kind)) return;
    const uint32_t out = step.output;
    if (step.kind == StepKind::compute) {
      computed_[out] = true;
      return;
    }
    if (step.kind == StepKind::create) return;
    if (step.kind == StepKind::copy) {
      const TensorDesc& d = program_.desc(program_.operand(step, 0));
      if (computed_[d.storage] || !storage_[d.storage] || scattered(d))
        computed_[out] = true;
      else
        storage_[out] = view(d, *storage_[d.storage]);
      return;
    }
    // A stack or a concatenation along `dim`: for each index of the dims before it, one
    // block of each operand in turn.
    std::vector<ByteRuns> parts;
    for (uint32_t k = 0; k < step.operands; ++k) {
      const uint32_t in = program_.operand(step, k);
      const TensorDesc& d = program_.desc(in);
      if (computed_[d.storage] || !storage_[d.storage] || scattered(d)) {
        computed_[out] = true;  // made from computed values, from zeros or scattered: compute it
        return;
      }
      parts.push_back(view(d, *storage_[d.storage]));
    }
    const TensorDesc& result = program_.desc(out);
    int64_t outer = 1;
    for (int64_t d = 0; d < step.dim; ++d) outer *= result.shape[d];
    ByteRuns composed;
    if (result.nbytes() > 0)
      for (int64_t o = 0; o < outer; ++o)
        for (const ByteRuns& part : parts) {
          const uint64_t block = part.size() / static_cast<uint64_t>(outer);
          composed.append(part.slice(o * block, (o + 1) * block));
        }
    if (composed.size() != result.nbytes()) throw Error("internal: a stack's bytes do not add up");
    storage_[out] = std::move(composed);
  }

  const Program& program_;
  std::vector<std::optional<ByteRuns>> storage_;  // the runs of each storage slot
  std::vector<bool> computed_;
};

}  // namespace

std::vector<OutputBytes> output_bytes(const Program& program, const std::vector<ByteRun>& inputs) {
  ByteExecutor executor(program, inputs);
  std::vector<OutputBytes> out;
  out.reserve(program.outputs().size());
  for (uint32_t slot : program.outputs()) out.push_back(executor.bytes_of(slot));
  return out;
}

std::vector<std::vector<uint8_t>> play_in_memory(const Program& program,
                                                 const std::vector<const uint8_t*>& inputs) {
  std::vector<ByteRun> locations;
  for (uint32_t s = 0; s < program.inputs(); ++s)
    locations.push_back(ByteRun{s, 0, program.desc(s).nbytes()});
  const std::vector<OutputBytes> bytes = output_bytes(program, locations);
  std::vector<std::vector<uint8_t>> out(bytes.size());
  std::vector<size_t> computed;
  for (size_t k = 0; k < bytes.size(); ++k) {
    out[k].resize(program.desc(program.outputs()[k]).nbytes());
    if (bytes[k].from == OutputBytes::From::computed) computed.push_back(k);
    if (bytes[k].from != OutputBytes::From::runs) continue;
    uint64_t at = 0;
    for (const ByteRun& run : bytes[k].runs.runs()) {
      std::memcpy(out[k].data() + at, inputs[run.source] + run.offset, run.length);
      at += run.length;
    }
  }
  if (!computed.empty())
    compute_backend().run(program, inputs, computed,
                          [&](size_t k, const void* data, uint64_t nbytes) {
                            if (nbytes != out[k].size())
                              throw Error("internal: a computed output has the wrong size");
                            std::memcpy(out[k].data(), data, nbytes);
                          });
  return out;
}

}  // namespace chainconv
