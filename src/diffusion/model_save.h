// Writes a loaded model as a diffusers folder: the non-weight files (model_index.json, configs, tokenizers,
// scheduler) of a diffusers folder, and the weights of its modules. Full training (`prtkl train --full`) saves its
// checkpoints and final model this way, and so do `prtkl convert` and `prtkl model merge`, so every output loads
// like any diffusers model.
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
  // The diffusers folder whose non-weight files are copied; empty: the one the model was loaded from. A model loaded
  // from a single file needs one (e.g. prtkl's configs/sd15).
  std::string config_root;
};

// One module's parameters, named as its checkpoint keys, cast to `dtype`, as a safetensors file with
// format "pt" added to `metadata` (what diffusers writes).
void save_module_weights(const torch::nn::Module& module, const std::string& file, torch::Dtype dtype,
                         Metadata metadata = {});

// Every part must be loaded. The folder appears complete or not at all (written beside `out`, then renamed).
void save_diffusers_model(const StableDiffusionModel& model, const std::string& out, const SaveModelOptions& options);

}  // namespace prtkl
