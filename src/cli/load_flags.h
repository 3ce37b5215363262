// How a subcommand loads its model: --device, --dtype and --threads, and for the files around the weights --config,
// --variant and --vae. One definition for every subcommand that loads a model to draw (generate, dataset generate,
// sweep, serve, worker) and one LoadOptions builder.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "core/runtime.h"
#include "diffusion/model_loader.h"

namespace prtkl::cli {

struct LoadFlags {
  std::string device = "cpu", dtype = "auto", config_dir, variant, vae;
  int threads = kAutoThreads;
};

// `group`: the help group of every flag but --threads (serve's "Drawing"); empty: none.
void add_load_flags(CLI::App* sub, LoadFlags& flags, const std::string& group = "");

// The flags as LoadOptions (device and dtype checked here, with the flag's name in the error).
LoadOptions load_options(const LoadFlags& flags);

}  // namespace prtkl::cli
