// prtkl: one word in, a particle image out. Exit codes: 0 ok, 1 internal error, 2 bad input (prtkl::Error).
#include <algorithm>
#include <iostream>

#include "cli/subcommand.h"
#include "core/blas_kernels.h"
#include "core/error.h"
#include "core/runtime.h"

namespace prtkl::cli {
std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> list;
  return list;
}
}  // namespace prtkl::cli

int main(int argc, char** argv) {
  prtkl::use_the_cpus_blas_kernels(argv);
  prtkl::keep_freed_memory_in_process();
  CLI::App app{"prtkl: turn one word into a particle image"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       "prtkl 0.1.0\n"
                       "Licensed under the Apache License 2.0 (LICENSE). For the third-party work it ships, bundles\n"
                       "and links, and the Twemoji (CC-BY 4.0) and Noto Emoji (Apache-2.0) art its bundled model was\n"
                       "trained on, with their licenses and attributions: see NOTICE.");
  auto& subs = prtkl::cli::subcommands();
  std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& s : subs) s.setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "prtkl: error: " << e.what() << " (see --help)\n";  // one line, as every bad input
    return 2;
  } catch (const prtkl::Error& e) {
    std::cerr << "prtkl: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "prtkl: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "prtkl: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
