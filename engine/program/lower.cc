#include "program/lower.h"

#include <algorithm>
#include <memory_resource>

#include "core/key_sort.h"
#include "dsl/chain.h"
#include "ops/op.h"

namespace chainconv {

void check_options(const Options& options) {
  if (options.expert_offset < 0 || options.expert_offset > kMaxExpertOffset)
    throw Error("expert offset " + std::to_string(options.expert_offset) +
                " is out of range (0 to " + std::to_string(kMaxExpertOffset) + ")");
}

Program lower(const Chain& chain, Direction direction, std::vector<TensorSpec> inputs,
              const Options& options, std::vector<uint32_t>* input_order) {
  check_options(options);
  // Input slots in key order (a program's outputs are already; a layout is in natural order).
  std::vector<uint32_t> order(inputs.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  auto by_key = [&](uint32_t a, uint32_t b) { return inputs[a].key < inputs[b].key; };
  if (!std::is_sorted(order.begin(), order.end(), by_key)) {
    std::vector<std::string_view> keys(inputs.size());
    std::transform(inputs.begin(), inputs.end(), keys.begin(),
                   [](const TensorSpec& in) { return std::string_view(in.key); });
    sort_by_bytes(order, keys);
  }
  Program program;
  program.direction = direction;
  program.reserve(inputs.size() * 2);
  // Every insertion takes a new node from one buffer (erased ones are not reused, all are
  // freed together at the end): no allocator call per key. A node is about 64 bytes.
  std::pmr::monotonic_buffer_resource nodes(64 * (inputs.size() + 64));
  KeyIndex dict(&nodes);
  for (size_t i = 0; i < order.size(); ++i) {
    TensorSpec& in = inputs[order[i]];
    // The previous key is the program's now (moved there): compare with that.
    if (i > 0 && in.key == program.name(static_cast<uint32_t>(i - 1)))
      throw Error("key '" + in.key + "' appears twice");
    if (!in.dtype) throw Error("key '" + in.key + "' has no dtype");
    for (int64_t size : in.shape)
      if (size < 0) throw Error("key '" + in.key + "' has a negative size");
    const uint32_t slot = program.add_input(std::move(in.key), *in.dtype, std::move(in.shape));
    dict.emplace_hint(dict.end(), program.name(slot), slot);
  }
  const ParamEnv params(chain.params, options);  // once per lowering, never per key
  Context ctx{program, dict, direction, options, params, {}};
  run_ops(chain.ops, ctx);
  std::vector<uint32_t> outputs;
  outputs.reserve(dict.size());
  for (const auto& [key, slot] : dict) outputs.push_back(slot);
  program.set_outputs(std::move(outputs));
  if (input_order) *input_order = std::move(order);
  return program;
}

std::vector<TensorSpec> output_specs(const Program& program) {
  std::vector<TensorSpec> specs;
  specs.reserve(program.outputs().size());
  for (uint32_t slot : program.outputs()) {
    const TensorDesc& d = program.desc(slot);
    specs.push_back({program.name(slot), d.shape, d.dtype});
  }
  return specs;
}

}  // namespace chainconv
