// chainconv: convert model state dicts between the HuggingFace and prime layouts.
#include <iostream>
#include <map>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "core/error.h"
#include "registry/chain_registry.h"

int main(int argc, char** argv) {
  CLI::App app{"chainconv: convert checkpoints between the HuggingFace and prime layouts"};
  app.require_subcommand(1);
  std::map<CLI::App*, chainconv::cli::Command> commands;
  auto add = [&](chainconv::cli::Command (*make)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    auto command = make(app);
    commands[app.get_subcommands({}).at(before)] = std::move(command);
  };
  add(chainconv::cli::add_demo);
  add(chainconv::cli::add_convert);
  add(chainconv::cli::add_plan);
  add(chainconv::cli::add_synth);
  add(chainconv::cli::add_inspect);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is not an error; a bad command line is
  }
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
  } catch (const chainconv::NotFoundError& e) {
    std::cerr << "chainconv: error: " << e.what() << "; " << chainconv::cli::lookup_advice(e)
              << "\n";
    return 1;
  } catch (const chainconv::ChoiceError& e) {
    std::cerr << "chainconv: error: " << e.what() << " (" << chainconv::cli::choice_advice(e)
              << ")\n";
    return 1;
  } catch (const chainconv::Error& e) {
    std::cerr << "chainconv: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "chainconv: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
