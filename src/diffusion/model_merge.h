// `prtkl model merge`: the weighted sum of models of one architecture, parameter by parameter — A1111's checkpoint
// merger ("weighted sum"), ComfyUI's ModelMergeSimple, and a "model soup" of two runs that started from the same
// weights (Wortsman et al., 2022), which is where an average lands between what each run learned.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/model_loader.h"

namespace prtkl {

struct MergeOptions {
  std::vector<std::string> models;  // diffusers folders or single-file checkpoints (or their models-folder names)
  std::vector<double> weights;      // one per model, summing to 1; empty: equal weights
  std::string out;                  // a .safetensors file (single file) or a folder (diffusers)
  // Configs, tokenizers and scheduler of a diffusers output. Default: the first model, when it is a folder.
  std::string config_dir;
  // Stored dtype of the output (the sums themselves are fp32). Unset: what the first model's UNet is stored in.
  std::optional<torch::Dtype> dtype;
};

// Every parameter becomes sum_i weights[i] * model_i. The models must match in family, in every tensor name and
// shape, and in their UNet and VAE configs (a config field such as the VAE's scaling_factor or norm_num_groups
// changes what the weights mean without changing a shape). Bad input fails before anything is written.
void merge_models(const MergeOptions& options);

// Fails (as `who`, naming both models) when they differ in family or in a UNet or VAE config field that says what
// the weights mean. Missing and null are the same; "_class_name" and the like do not count.
void expect_same_architecture(const StableDiffusionModel& a, const StableDiffusionModel& b, const std::string& who);

// After expect_same_architecture, calls f(part, name, a's tensor, b's tensor) for every parameter of every loaded
// part; fails (as `who`, naming the part and tensor) when b lacks one of a's tensors, has one a lacks, or has it in
// another shape.
using ParameterPairFn = std::function<void(const std::string& part, const std::string& name, torch::Tensor& mine,
                                           const torch::Tensor& theirs)>;
void for_each_parameter_pair(const StableDiffusionModel& a, const StableDiffusionModel& b, const std::string& who,
                             const ParameterPairFn& f);

}  // namespace prtkl
