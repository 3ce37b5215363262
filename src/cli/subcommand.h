// Each CLI subcommand lives in its own file and registers itself here; main() builds the CLI11 app from the
// registry. A subcommand parses flags and calls one library function: no model logic in cli/.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace prtkl::cli {

using SubcommandSetup = std::function<void(CLI::App& app)>;

struct Subcommand {
  std::string name;
  SubcommandSetup setup;
};

std::vector<Subcommand>& subcommands();

struct RegisterSubcommand {
  RegisterSubcommand(std::string name, SubcommandSetup setup) {
    subcommands().push_back({std::move(name), std::move(setup)});
  }
};

}  // namespace prtkl::cli
