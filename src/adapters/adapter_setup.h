// The adapters named on a command line (`--lora FILE[:scale]`, `--embeddings FILE`) applied to a loaded model,
// shared by generate, serve, dataset generate and sweep.
#pragma once
#include <string>
#include <vector>

#include "adapters/lora.h"
#include "diffusion/model_loader.h"

namespace prtkl {

struct LoraSpec {
  std::string path;
  double scale = 1.0;
};
// "FILE" or "FILE:scale"; paths may contain colons, so only a trailing number counts as the scale.
LoraSpec parse_lora_spec(const std::string& spec);

// "FILE: N LoRA key(s) match no module, e.g. 'KEY'", or "" when every key matched.
std::string unmatched_keys_warning(const LoraFile& file);

struct AppliedAdapters {
  std::vector<std::string> warnings;  // e.g. LoRA keys that match no module
  std::vector<std::string> triggers;  // what to write in a prompt for each embedding file
  std::string id;                     // "model+lora@scale+emb": identifies the result of a prompt
};

// Loads the embeddings (adding their tokens) and merges the LoRAs with their scales into the weights.
AppliedAdapters apply_adapters(StableDiffusionModel& model, const std::vector<std::string>& lora_specs,
                               const std::vector<std::string>& embedding_paths);

}  // namespace prtkl
