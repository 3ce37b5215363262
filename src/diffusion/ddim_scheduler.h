// DDIM (eta = 0): deterministic, alpha-space steps over integer timesteps.
#pragma once
#include "diffusion/scheduler.h"

namespace prtkl {

class DDIMScheduler : public Scheduler {
 public:
  DDIMScheduler(const Config& model_config, const Json& overrides);
  void set_timesteps(int64_t n) override;
  SchedulerStep step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample, at::Generator& gen) override;
  std::string name() const override { return "ddim"; }
  std::string display_name() const override { return "DDIM"; }

 private:
  int64_t num_inference_steps_ = 0;
  float final_alpha_cumprod_ = 1.0f;
};

}  // namespace prtkl
