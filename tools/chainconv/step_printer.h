// Prints what each op moved, one line per step, with the op's chain position; consecutive
// steps of the same op collapse their key lists into ranges.
#pragma once

#include <ostream>

#include "ops/op.h"

namespace chainconv::cli {

class StepPrinter : public Observer {
 public:
  explicit StepPrinter(std::ostream& out) : out_(out) {}
  void on_step(const Op& op, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs) override;
  size_t steps() const { return steps_; }

 private:
  std::ostream& out_;
  size_t steps_ = 0;
};

}  // namespace chainconv::cli
