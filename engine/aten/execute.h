// The ATen executor: plays a step program on real tensors, on whatever device they live on.
// Moves pass the handle on, views are ATen views (select / narrow / squeeze), stacks and
// concatenations are at::stack / at::cat, computed steps run their transform's kernel,
// created tensors are at::empty like their input. On meta tensors (which have no values)
// every step making new data is at::empty of the shape the program describes. Nothing reads
// tensor data on the host.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "program/program.h"

namespace chainconv {

// `inputs[i]` is the tensor of input slot i (program.name(i)); returns the tensor of each of
// program.outputs(), in order. The caller has checked that the inputs have the programmed
// shapes and dtypes.
std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs);
// Only the steps `needed` marks (program/lineage.h's steps_for); outputs no played step
// makes come back undefined unless they are inputs.
std::vector<at::Tensor> execute(const Program& program, std::vector<at::Tensor> inputs,
                                const std::vector<bool>& needed);
// The same on borrowed inputs: `inputs[i]` points to the tensor of input slot i, which is
// read and never moved from, and must outlive the call. A caller converting its own map
// hands its entries over this way: no reference count is touched for an input the program
// consumes (tens of thousands of atomic operations on a repeated conversion), and the map
// still holds every tensor if a step fails.
std::vector<at::Tensor> execute(const Program& program,
                                const std::vector<const at::Tensor*>& inputs,
                                const std::vector<bool>& needed = {});

}  // namespace chainconv
