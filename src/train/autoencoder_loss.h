#pragma once
// The autoencoder stages of full training (stage "vae" and "vae_decoder"): their loss, and the latent scale a
// newly trained autoencoder is saved with.

#include <torch/torch.h>

#include <vector>

#include "models/vae.h"

namespace prtkl {

// L1 reconstruction of a sampled latent of `pixels` ([B, 3, H, W] in [-1, 1]), plus `kl_weight` times the KL term
// to N(0, I) (summed per image as diffusers and the LDM autoencoder do, then averaged over the batch) unless
// `decoder_only`: the KL term depends on the encoder alone.
torch::Tensor autoencoder_loss(AutoencoderKL& vae, const torch::Tensor& pixels, at::Generator& g, double kl_weight,
                               bool decoder_only);

// 1 / std of latents sampled from `pictures` (each [3, H, W]; up to the first 256), as SD chose its 0.18215, so
// the UNet sees latents of unit variance. Encoded in batches of 32 in the VAE's device and `dtype`.
double measured_latent_scaling(AutoencoderKL& vae, const std::vector<torch::Tensor>& pictures, uint64_t seed,
                               torch::Device device, torch::Dtype dtype);

}  // namespace prtkl
