#include "chainconv/step_printer.h"

#include <iomanip>

#include "core/key_ranges.h"

namespace chainconv::cli {

void StepPrinter::on_step(const Op& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
  ++steps_;
  out_ << "  " << std::left << std::setw(14) << op.kind();
  if (inputs.empty()) out_ << "(new)";
  else out_ << compress_keys_str(inputs);
  out_ << " -> ";
  if (outputs.empty()) out_ << "(dropped)";
  else out_ << compress_keys_str(outputs);
  out_ << "   [" << op.pos().str() << "]\n";
}

}  // namespace chainconv::cli
