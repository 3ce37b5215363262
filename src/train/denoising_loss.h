// The denoising objective of SD training (diffusers' train_text_to_image / DreamBooth scripts): noise (plus the
// offset-noise term) and uniform timesteps drawn for a whole batch, the noisy latents and the epsilon or
// v-prediction target, and the MSE, min-SNR-γ weighted when asked (Hang et al. 2023).
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/json_config.h"
#include "diffusion/ddpm_noise.h"

namespace prtkl {

// A rank's share of a batch's mean loss from its samples' losses [n]: the mean when they are the whole batch of
// `batch`, else their sum / batch, so that the ranks' shares (and their gradients) add up to the whole batch's.
torch::Tensor batch_share(const torch::Tensor& per_sample, int64_t batch);

class DenoisingLoss {
 public:
  // `prediction_type` empty: the scheduler config's.
  DenoisingLoss(const Config& scheduler_config, const std::string& prediction_type, double snr_gamma,
                double noise_offset);

  struct Draw {
    torch::Tensor noise, timesteps;  // [B, C, h, w] fp32, [B] int64
  };
  // A whole batch's noise and timesteps, drawn from `g` in this order: noise, offset term, timesteps.
  Draw draw(int64_t batch, const std::vector<int64_t>& latent_shape, at::Generator& g) const;

  struct Inputs {
    torch::Tensor noisy, target;
  };
  Inputs inputs(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& timesteps) const;

  // The loss of predictions `pred` for `target` at `timesteps`, as a share of a batch of `batch` samples: the
  // batch mean when these are all of it, else their sum / batch (data parallel: the ranks' shares add up).
  torch::Tensor loss(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& timesteps,
                     int64_t batch) const;

  const DDPMNoiseSchedule& schedule() const { return schedule_; }
  const std::string& prediction_type() const { return prediction_type_; }

 private:
  DDPMNoiseSchedule schedule_;
  std::string prediction_type_;
  double snr_gamma_, noise_offset_;
};

}  // namespace prtkl
