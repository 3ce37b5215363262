// Euler (k-diffusion's sample_euler, s_churn = 0) and Euler ancestral, as diffusers' EulerDiscreteScheduler and
// EulerAncestralDiscreteScheduler: sigma-space samplers that scale the model input by 1/sqrt(sigma² + 1).
#pragma once
#include "diffusion/scheduler.h"

namespace prtkl {

class EulerFamilyScheduler : public Scheduler {
 public:
  void set_timesteps(int64_t n) override;
  double init_noise_sigma() const override;
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) const override;

 protected:
  EulerFamilyScheduler(const Config& model_config, const Json& defaults, const Json& overrides);
  float sigma(int64_t i) const { return sigmas_[i].item<float>(); }
  // x0 from the model output (epsilon or v prediction) at sigma.
  torch::Tensor predict_original(const torch::Tensor& model_output, const torch::Tensor& sample, float sigma) const;
  bool karras_ = false;
};

class EulerScheduler : public EulerFamilyScheduler {
 public:
  EulerScheduler(const Config& model_config, const Json& overrides);
  SchedulerStep step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample, at::Generator& gen) override;
  std::string name() const override { return karras_ ? "euler_karras" : "euler"; }
  std::string display_name() const override { return karras_ ? "Euler Karras" : "Euler"; }
};

class EulerAncestralScheduler : public EulerFamilyScheduler {
 public:
  EulerAncestralScheduler(const Config& model_config, const Json& overrides);
  SchedulerStep step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample, at::Generator& gen) override;
  std::string name() const override { return "euler_a"; }
  std::string display_name() const override { return "Euler a"; }
};

}  // namespace prtkl
