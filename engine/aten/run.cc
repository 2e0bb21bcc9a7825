#include "aten/run.h"

#include "aten/dtypes.h"
#include "aten/execute.h"
#include "core/text.h"
#include "program/lower.h"

namespace chainconv {

std::vector<TensorSpec> specs_of(const StateDict& dict) {
  std::vector<TensorSpec> specs;
  specs.reserve(dict.size());
  for (const auto& [key, item] : dict) {
    if (!item.tensor.defined()) throw Error("tensor '" + key + "' is undefined");
    specs.push_back({key, dims_of(item.tensor.sizes()), &dtype_of(item)});
  }
  return specs;
}

// Only LibTorch can fail here (a device mix in a stack); the dict changes after it cannot.
static void replace_with_outputs(const Program& program, StateDict& dict) {
  std::vector<const at::Tensor*> inputs;  // borrowed from the dict, which keeps them
  inputs.reserve(dict.size());
  for (const auto& [key, item] : dict) inputs.push_back(&item.tensor);
  std::vector<at::Tensor> outputs = execute(program, inputs);
  dict.take_all();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const uint32_t slot = program.outputs()[i];
    const DtypeInfo& dtype = *program.desc(slot).dtype;
    dict.append(program.name(slot),
                Item{std::move(outputs[i]), dtype.opaque() ? std::string(dtype.name) : ""});
  }
}

std::vector<Warning> run_chain(const Chain& chain, StateDict& dict, Direction direction,
                               const Options& options) {
  Program program = lower(chain, direction, specs_of(dict), options);
  replace_with_outputs(program, dict);
  return program.warnings();
}

void run_program(const Program& program, StateDict& dict) {
  size_t i = 0;
  for (auto it = dict.begin(); it != dict.end(); ++it, ++i) {
    if (i == program.inputs() || it->first != program.name(static_cast<uint32_t>(i)))
      throw Error("the dict has '" + it->first + "'" +
                  (i < program.inputs() ? " where the program expects '" +
                                              program.name(static_cast<uint32_t>(i)) + "'"
                                        : ", which the program does not know"));
    const TensorDesc& want = program.desc(static_cast<uint32_t>(i));
    if (it->second.tensor.sizes().vec() != want.shape || &dtype_of(it->second) != want.dtype)
      throw Error("'" + it->first + "' is " + shape_str(it->second.tensor.sizes().vec()) + " " +
                  std::string(dtype_of(it->second).name) + " but the program was made for " +
                  want.str());
  }
  if (i != program.inputs())
    throw Error("the dict lacks '" + program.name(static_cast<uint32_t>(i)) + "'");
  replace_with_outputs(program, dict);
}

}  // namespace chainconv
