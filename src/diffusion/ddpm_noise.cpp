#include "diffusion/ddpm_noise.h"

#include "diffusion/scheduler.h"

namespace prtkl {

DDPMNoiseSchedule::DDPMNoiseSchedule(const Config& model_config)
    : config_(schedule::resolve(model_config,
                                Json{{"num_train_timesteps", 1000}, {"beta_start", 0.0001}, {"beta_end", 0.02},
                                     {"beta_schedule", "linear"}, {"trained_betas", nullptr},
                                     {"prediction_type", "epsilon"}, {"rescale_betas_zero_snr", false}},
                                Json::object())),
      alphas_cumprod_(schedule::alphas_cumprod(config_)) {}

std::pair<torch::Tensor, torch::Tensor> DDPMNoiseSchedule::coefficients(const torch::Tensor& timesteps,
                                                                        const torch::Tensor& like) const {
  auto acp = alphas_cumprod_.to(like.device()).index_select(0, timesteps.to(like.device()).to(torch::kInt64).flatten());
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = -1;
  auto a = acp.pow(0.5).view(shape).to(like.scalar_type());
  auto b = (1 - acp).pow(0.5).view(shape).to(like.scalar_type());
  return {a, b};
}

torch::Tensor DDPMNoiseSchedule::add_noise(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& t) const {
  auto [a, b] = coefficients(t, x0);
  return a * x0 + b * noise;
}

torch::Tensor DDPMNoiseSchedule::get_velocity(const torch::Tensor& sample, const torch::Tensor& noise,
                                              const torch::Tensor& t) const {
  auto [a, b] = coefficients(t, sample);
  return a * noise - b * sample;
}

}  // namespace prtkl
