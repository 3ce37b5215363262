// Latent consistency distillation (Luo et al., "Latent Consistency Models", 2023; the math of diffusers'
// train_lcm_distill_lora_sd_wds.py): the student (the model with a LoRA) learns to map a noisy latent at timestep
// t_{n+k} straight to the clean latent that the teacher's trajectory reaches, so a few LCM steps
// (diffusion/lcm_scheduler) draw what many steps drew.
//
// For a clean latent x0, noise and a solver index n (of the N = original_steps timesteps k·(1..N) − 1):
//   x_s      = add_noise(x0, noise, s)                    s = k·(n+1) − 1, t = max(s − k, 0)
//   student  = c_skip(s)·x_s + c_out(s)·x̂0(student(x_s, s))
//   teacher  = uncond + g·(cond − uncond) at (x_s, s)     its CFG folded in (g = guidance scale)
//   x_t      = √ᾱ_t·x̂0(teacher) + √(1−ᾱ_t)·ε̂(teacher)    one DDIM step (no grad)
//   target   = c_skip(t)·x_t + c_out(t)·x̂0(target(x_t, t))  the EMA student, no grad
//   loss     = mean(√((student − target)² + c²) − c)      pseudo-Huber, c = huber_c
// with the boundary scalings of diffusers' LCMScheduler: c_skip = σ²/((10t)² + σ²), c_out = 10t/√((10t)² + σ²),
// σ = 0.5, so that at t = 0 the consistency function is the identity.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "core/json_config.h"
#include "diffusion/ddpm_noise.h"

namespace prtkl {

class ConsistencyDistillation {
 public:
  // `prediction_type` empty: the scheduler config's.
  ConsistencyDistillation(const Config& scheduler_config, const std::string& prediction_type, int64_t original_steps,
                          double guidance_scale, double huber_c);

  struct Draw {
    torch::Tensor noise, index;  // [B, C, h, w] fp32, [B] int64 solver indices in [0, N)
  };
  // A whole batch's noise and solver indices, drawn from `g` in this order.
  Draw draw(int64_t batch, const std::vector<int64_t>& latent_shape, at::Generator& g) const;

  // A UNet call at (latents, timesteps [B]) -> model output; the teacher's returns both halves' outputs guided.
  using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

  // The per-sample loss [B] for clean latents `x0` and draw `d` (indices and noise narrowed to these samples).
  torch::Tensor per_sample_loss(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& index,
                                const Denoiser& student, const Denoiser& guided_teacher,
                                const Denoiser& target) const;

  // The teacher's guided output from its conditional and unconditional outputs.
  torch::Tensor guide(const torch::Tensor& cond, const torch::Tensor& uncond) const;

  // Exposed for tests: the solver's timesteps k·(1..N) − 1, and c_skip, c_out at `t`.
  torch::Tensor solver_timesteps() const { return solver_timesteps_; }
  std::pair<torch::Tensor, torch::Tensor> boundary_scalings(const torch::Tensor& t) const;

 private:
  torch::Tensor predicted_x0(const torch::Tensor& out, const torch::Tensor& x, const torch::Tensor& t) const;
  torch::Tensor predicted_noise(const torch::Tensor& out, const torch::Tensor& x, const torch::Tensor& t) const;
  torch::Tensor per_sample(const torch::Tensor& coefficient, const torch::Tensor& t) const;

  DDPMNoiseSchedule schedule_;
  std::string prediction_type_;
  int64_t skip_;  // k = T / N
  torch::Tensor solver_timesteps_;
  double guidance_scale_, huber_c_;
};

}  // namespace prtkl
