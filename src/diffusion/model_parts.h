// A loaded model's modules by the folder names of the diffusers layout, for code that treats every part alike:
// saving, merging, applying a LoRA.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "diffusion/model_loader.h"

namespace prtkl {

struct ModelPart {
  std::string name;  // unet, vae, text_encoder, text_encoder_2
  torch::nn::Module* module;
};

// unet, vae, text_encoder, text_encoder_2 (SDXL), in that order; a part that is not loaded (deferred or released)
// is left out.
inline std::vector<ModelPart> loaded_parts(const StableDiffusionModel& model) {
  std::vector<ModelPart> out;
  if (model.unet) out.push_back({"unet", model.unet.ptr().get()});
  if (model.vae) out.push_back({"vae", model.vae.ptr().get()});
  if (model.text_encoder) out.push_back({"text_encoder", model.text_encoder.ptr().get()});
  if (model.text_encoder_2) out.push_back({"text_encoder_2", model.text_encoder_2.ptr().get()});
  return out;
}

}  // namespace prtkl
