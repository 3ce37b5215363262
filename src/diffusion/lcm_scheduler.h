// LCM (latent consistency models; diffusers' LCMScheduler): few-step sampling for models distilled for it, e.g.
// with an LCM-LoRA. Timesteps are taken evenly by index from the distillation's own schedule (original_inference_steps
// 50: 19, 39, ..., 999), so 4 steps are 999, 759, 499, 259; each step predicts x0, applies the consistency
// boundary condition (c_skip, c_out) and, except after the last step, noises it again to the next timestep with
// noise drawn from the pipeline's generator.
#pragma once
#include "diffusion/scheduler.h"

namespace prtkl {

class LCMScheduler : public Scheduler {
 public:
  LCMScheduler(const Config& model_config, const Json& overrides);
  void set_timesteps(int64_t n) override;  // throws for n > original_inference_steps
  SchedulerStep step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample, at::Generator& gen) override;
  std::string name() const override { return "lcm"; }
  std::string display_name() const override { return "LCM"; }

  // The consistency boundary condition at timestep t: {c_skip, c_out}, in float32 as diffusers computes them.
  std::pair<float, float> boundary_scalings(int64_t t) const;

 private:
  int64_t num_inference_steps_ = 0;
  float final_alpha_cumprod_ = 1.0f;
};

}  // namespace prtkl
