#include "chainconv/step_printer.h"

#include <algorithm>
#include <iomanip>

#include "core/key_ranges.h"
#include "ops/op.h"

namespace chainconv::cli {

void print_steps(std::ostream& out, const Program& program) {
  const std::vector<Step>& steps = program.steps();
  for (size_t i = 0; i < steps.size();) {
    const Step& first = steps[i];
    std::vector<std::string> inputs, outputs;
    size_t j = i;
    for (; j < steps.size() && steps[j].op == first.op && steps[j].kind == first.kind; ++j) {
      const Step& step = steps[j];
      if (step.kind != StepKind::create)
        for (uint32_t k = 0; k < step.operands; ++k)
          inputs.push_back(program.name(program.operand(step, k)));
      if (step.kind != StepKind::drop) outputs.push_back(program.name(step.output));
    }
    // Several views of one tensor (a split, an unstack) name it once.
    std::sort(inputs.begin(), inputs.end());
    inputs.erase(std::unique(inputs.begin(), inputs.end()), inputs.end());
    out << "  " << std::left << std::setw(16) << first.op->kind() << std::setw(8)
        << step_kind_name(first.kind) << (inputs.empty() ? "(new)" : compress_keys_str(inputs))
        << " -> " << (outputs.empty() ? "(dropped)" : compress_keys_str(outputs)) << "   ["
        << first.op->pos().str() << "]\n";
    i = j;
  }
}

}  // namespace chainconv::cli
