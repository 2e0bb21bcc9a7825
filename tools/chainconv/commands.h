// The chainconv subcommands. Each registers its options on the app and returns the
// function that runs it (returning the process exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace chainconv::cli {

using Command = std::function<int()>;

Command add_demo(CLI::App& app);
Command add_convert(CLI::App& app);
Command add_plan(CLI::App& app);
Command add_synth(CLI::App& app);
Command add_inspect(CLI::App& app);

}  // namespace chainconv::cli
