// A cheap preview of latents without the VAE: each latent channel contributes a fixed RGB vector, the linear
// approximation of the decoder that ComfyUI and A1111 call "Latent2RGB". Costs microseconds instead of a decode,
// so the web app can show the picture forming every few steps.
#pragma once
#include <torch/torch.h>

#include "core/image.h"
#include "diffusion/model_loader.h"

namespace prtkl {

// latents [4,h,w] (one image, any device/dtype) -> an h×w RGB image.
Image latent_preview(const torch::Tensor& latents, ModelFamily family);

}  // namespace prtkl
