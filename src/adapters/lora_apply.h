// Applies LoRAs to a loaded model by merging W += scale · (alpha / rank) · B·A into the target weights (and a
// file's whole-tensor differences, scale · diff, into theirs). The original of every touched tensor is kept, so
// LoRAs can be switched or removed without reloading the base model (and without the drift of subtracting a merge
// again).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "adapters/lora.h"
#include "diffusion/model_loader.h"

namespace prtkl {

// Every Linear/Conv2d (pair targets) and norm (differences only) of the model's UNet and text encoders, under
// diffusers names and, for the UNet, under the original LDM/SGM names too (SDXL kohya files use those). `only`
// limits the index to those components; components left out, or not loaded, are skipped (LoraNameIndex::skip).
LoraNameIndex lora_name_index(StableDiffusionModel& model, const std::set<std::string>& only = {});

struct LoraChoice {
  LoraFile file;
  double scale = 1.0;
};

class LoraApplier {
 public:
  explicit LoraApplier(StableDiffusionModel& model, const std::set<std::string>& only = {});
  const LoraNameIndex& index() const { return index_; }
  LoraFile read(const std::string& path) const { return read_lora(path, index_); }
  // Restores the base weights, then merges each LoRA with its scale.
  void apply(const std::vector<LoraChoice>& loras);
  void clear();

 private:
  torch::Tensor parameter(const std::string& name);  // "unet.<module>.weight"
  StableDiffusionModel& model_;
  LoraNameIndex index_;
  std::map<std::string, torch::Tensor> originals_;  // by parameter name
};

}  // namespace prtkl
