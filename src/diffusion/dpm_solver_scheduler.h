// DPM-Solver++ 2M (multistep, midpoint, lower order at the end), as diffusers' DPMSolverMultistepScheduler.
#pragma once
#include "diffusion/scheduler.h"

namespace prtkl {

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  DPMSolverMultistepScheduler(const Config& model_config, const Json& overrides);
  void set_timesteps(int64_t n) override;
  SchedulerStep step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample, at::Generator& gen) override;
  std::string name() const override { return karras_ ? "dpmpp_2m_karras" : "dpmpp_2m"; }
  std::string display_name() const override { return karras_ ? "DPM++ 2M Karras" : "DPM++ 2M"; }

 private:
  bool karras_ = false;
  std::vector<torch::Tensor> model_outputs_;  // x0 predictions of the last steps, newest last
  int64_t lower_order_nums_ = 0;
};

}  // namespace prtkl
