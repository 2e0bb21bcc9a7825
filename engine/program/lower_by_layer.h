// Lowering a model's key set with each kind of layer lowered once.
//
// A model's layers mostly hold the same keys under another number (Qwen3-30B's 48 MoE
// layers, DeepSeek-V3's 58), and a chain treats each layer on its own: lowering all 18,867
// keys of Qwen3 does the work of one layer 48 times over. Here the keys are grouped by layer
// (the number after a key's first `layers` segment, as a conversion groups keys on disk:
// "model.layers.12."), layers holding the same keys but for that number, with the same
// shapes and dtypes, are lowered once, on the first one's keys with its number replaced by a
// sentinel, and the steps are copied for every layer of that kind, its number written where
// the sentinel stands. The keys outside any layer are lowered on their own.
//
// That is sound where keys of different layers never meet in one op and no op reads a
// layer's number: `layer_separable` checks it once per chain and direction, from every op's
// templates and Op::acts_per_value_of. Wherever it does not hold, and for a key set of one
// layer, a lowering that warns or fails, or outputs that would collide, the whole key set
// is lowered by lower() instead; so the program (and every error and warning) is lower()'s,
// up to the order of its steps and slots.
#pragma once

#include <vector>

#include "core/tensor_desc.h"
#include "ops/op.h"
#include "program/program.h"

namespace chainconv {

struct Chain;

// How a program was lowered (for tests and benchmarks).
struct LayerLowering {
  bool whole = true;     // lowered by lower() on the whole key set
  size_t lowerings = 0;  // otherwise: lowerings made, one per kind of layer and the rest
  size_t layers = 0;     // layers whose steps were copied
};

// The program lower() makes of `inputs`, made as above. Same arguments, same errors.
Program lower_by_layer(const Chain& chain, Direction direction, std::vector<TensorSpec> inputs,
                       const Options& options = {}, std::vector<uint32_t>* input_order = nullptr,
                       LayerLowering* how = nullptr);

// Whether `ops` may be lowered a layer at a time in `direction`: every op's templates either
// all name keys inside layers (one placeholder for the layer number, one prefix before it)
// or all name keys outside any layer, and every op in it acts per value of that placeholder.
bool layer_separable(const OpList& ops, Direction direction);

}  // namespace chainconv
