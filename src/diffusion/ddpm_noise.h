// The DDPM forward process used for training: q(x_t | x_0) and the v-prediction target, from the model's
// scheduler config as DDPMScheduler.from_config reads it.
#pragma once
#include <torch/torch.h>

#include "core/json_config.h"

namespace prtkl {

class DDPMNoiseSchedule {
 public:
  explicit DDPMNoiseSchedule(const Config& model_config);
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  // sqrt(acp[t]) · x0 + sqrt(1 - acp[t]) · noise, per batch element.
  torch::Tensor add_noise(const torch::Tensor& original, const torch::Tensor& noise, const torch::Tensor& timesteps) const;
  // sqrt(acp[t]) · noise - sqrt(1 - acp[t]) · sample.
  torch::Tensor get_velocity(const torch::Tensor& sample, const torch::Tensor& noise, const torch::Tensor& timesteps) const;
  std::string prediction_type() const { return config_.get<std::string>("prediction_type"); }
  int64_t num_train_timesteps() const { return config_.get<int64_t>("num_train_timesteps"); }

 private:
  std::pair<torch::Tensor, torch::Tensor> coefficients(const torch::Tensor& timesteps, const torch::Tensor& like) const;
  Config config_;
  torch::Tensor alphas_cumprod_;
};

}  // namespace prtkl
