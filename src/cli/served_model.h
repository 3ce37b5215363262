// What `prtkl serve` and `prtkl worker` share: the flags that say which model draws and how, and loading that
// model with its adapters, interpreter and renderer.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/load_flags.h"
#include "cli/sampling_flags.h"
#include "core/runtime.h"
#include "interpret/interpreter.h"
#include "server/model_slot.h"

namespace prtkl::cli {

struct ModelFlags {
  std::string model, data;
  LoadFlags load;
  std::string providers, interpret_config;
  std::string style;  // --style: a style name or folder, "none"; empty: the model's default_style
  std::vector<std::string> loras, embeddings;
  int particles = 8000;
  int64_t max_pixels = 4 << 20;
  SamplingFlags sampling;  // unset: the model's own (prtkl.json "sampling")
};

// --model ... --vae, --data, --threads and the generation settings (those that shape the pictures in the help's
// "Drawing" group).
void add_model_flags(CLI::App* sub, ModelFlags& flags);
// The "Drawing" flags given on `sub`'s command line, e.g. {"--lora"}.
std::vector<std::string> drawing_flags_given(const CLI::App* sub);

// $PRTKL_DATA_DIR, else $XDG_DATA_HOME/prtkl, else ~/.local/share/prtkl; --data wins.
std::string data_dir(const ModelFlags& flags);

// The model `name` (a path or a name in the models folder), its interpreter and renderer. `as_started`: the model
// of the command line, with the command line's configs, VAE and adapters; any other is served as it is.
server::ServedModel load_served_model(const ModelFlags& flags, const std::string& name, bool as_started);

}  // namespace prtkl::cli
