// The checks that run a chain on a layout: an HF key set (keys, shapes, dtypes, no data),
// from a config through engine/layout or from a checkpoint's headers. They read the step
// programs of HF -> prime, prime -> HF and prime -> HF -> prime.
#pragma once

#include <vector>

#include "check/finding.h"
#include "check/target_check.h"
#include "core/tensor_desc.h"
#include "dsl/chain.h"

namespace chainconv {

// HF -> prime -> HF on `hf` must give back the same keys, shapes and dtypes, and
// prime -> HF -> prime on the forward result the same prime dict. Differences that a
// declared lossy op (drop, rename alternates, squeeze_leading, map with lossy) or a
// canonicalising conditional (a branch taken only one way, e.g. fused experts in,
// per-expert out) accounts for are notes; any other difference, and any op that fails on
// the layout, is an error at the op responsible.
std::vector<Finding> symbolic_roundtrip(const Chain& chain, const std::vector<TensorSpec>& hf,
                                        const Options& options = {});

// Ops that never fire on the layout (in either direction): a warning, since a typo in a
// template is otherwise silent; a note for declared-lossy ops and for ops in a branch the
// layout never takes. And keys left untouched by forward that match one of the chain's
// `expect_converted` templates: a warning.
std::vector<Finding> check_coverage(const Chain& chain, const std::vector<TensorSpec>& hf,
                                    const Options& options = {});

// Both, on one lowering of the layout's roundtrips; with `target`, the check against the
// model's other side too (check/target_check.h), on the same forward program.
std::vector<Finding> check_on_layout(const Chain& chain, const std::vector<TensorSpec>& hf,
                                     const Options& options = {},
                                     const TargetSide* target = nullptr);

}  // namespace chainconv
