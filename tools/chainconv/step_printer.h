// Prints what a step program does, one line per run of steps of the same op and kind, with
// the op's chain position; the runs' key lists collapse into ranges.
#pragma once

#include <ostream>

#include "program/program.h"

namespace chainconv::cli {

void print_steps(std::ostream& out, const Program& program);

}  // namespace chainconv::cli
