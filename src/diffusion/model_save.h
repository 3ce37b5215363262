// Writes a loaded SD 1.x model back as a diffusers folder: the non-weight files (model_index.json, configs,
// tokenizers, scheduler) of the folder it came from, and the weights of its modules. Full training (`prtkl
// train --full`) saves its checkpoints and final model this way, so every output loads like any diffusers model.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "core/json_config.h"
#include "core/safetensors.h"
#include "diffusion/model_loader.h"

namespace prtkl {

struct SaveModelOptions {
  torch::Dtype dtype = torch::kFloat32;
  Metadata metadata;                        // added to every weight file's __metadata__
  std::map<std::string, Json> config_edits;  // component -> fields merged into its config.json
};

// One module's parameters, named as its checkpoint keys, cast to `dtype`, as a safetensors file with
// format "pt" added to `metadata` (what diffusers writes).
void save_module_weights(const torch::nn::Module& module, const std::string& file, torch::Dtype dtype,
                         Metadata metadata = {});

// The folder appears complete or not at all (written beside `out`, then renamed). Needs a diffusers-folder model.
void save_diffusers_model(const StableDiffusionModel& model, const std::string& out, const SaveModelOptions& options);

}  // namespace prtkl
