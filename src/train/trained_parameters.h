#pragma once
// What a run trains, set up once: the LoRA layers injected into the UNet (and the text encoders), or in full
// training the module weights themselves, and the optimizer's parameter groups over them and the token rows.

#include <torch/torch.h>

#include <vector>

#include "diffusion/model_loader.h"
#include "train/lora_injection.h"
#include "train/optimizer.h"
#include "train/pivotal_rows.h"
#include "train/train_config.h"

namespace prtkl {

struct TrainedParameters {
  InjectedLora unet_lora, te_lora, te2_lora;  // LoRA runs (the text encoders' with train_text_encoder)
  std::vector<torch::Tensor> full;            // full training: the trained modules' weights
  // Named "unet", "text_encoder", "vae", "vae_decoder" or "embeddings" (the token rows: frozen from the start
  // when `ti_steps` is 0).
  std::vector<ParamGroup> groups;
};

// Freezing everything else is the caller's: only what is returned gets requires_grad. LoRA layers take PEFT's
// init (A gaussian, B zero) from a generator of their own (seed + 3), so the data order and noise do not depend
// on how many layers there are.
TrainedParameters set_up_trained_parameters(StableDiffusionModel& m, const TrainConfig& c, const PivotalRows& rows,
                                            int64_t ti_steps);

}  // namespace prtkl
