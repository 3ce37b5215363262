#include "diffusion/lcm_scheduler.h"

#include <cmath>

#include "core/error.h"

namespace prtkl {

namespace {
Json lcm_defaults() {
  return Json{{"num_train_timesteps", 1000},     {"beta_start", 0.00085},    {"beta_end", 0.012},
              {"beta_schedule", "scaled_linear"}, {"trained_betas", nullptr}, {"original_inference_steps", 50},
              {"clip_sample", false},             {"clip_sample_range", 1.0}, {"set_alpha_to_one", true},
              {"steps_offset", 0},                {"prediction_type", "epsilon"}, {"thresholding", false},
              {"timestep_spacing", "leading"},    {"timestep_scaling", 10.0}, {"rescale_betas_zero_snr", false}};
}
}  // namespace

LCMScheduler::LCMScheduler(const Config& model_config, const Json& overrides)
    : Scheduler(schedule::resolve(model_config, lcm_defaults(), overrides)) {
  if (config_.get_or<bool>("thresholding", false)) fail(config_.source(), ": field 'thresholding' is not supported");
  final_alpha_cumprod_ = config_.get<bool>("set_alpha_to_one") ? 1.0f : alphas_cumprod_[0].item<float>();
}

void LCMScheduler::set_timesteps(int64_t n) {
  check_steps(n);
  const auto T = config_.get<int64_t>("num_train_timesteps");
  const auto original = config_.get<int64_t>("original_inference_steps");
  if (original < 1 || original > T)
    fail(config_.source(), ": field 'original_inference_steps' must be between 1 and ", T, " (got ", original, ")");
  if (n > original)
    fail("the LCM sampler takes at most original_inference_steps = ", original, " steps (got ", n, ")");
  const int64_t k = T / original;  // the distillation's skipping step
  // Its schedule from the end: original * k - 1, ..., k - 1; the n steps at floor(linspace(0, original, n)) of it.
  std::vector<int64_t> ts;
  for (int64_t i = 0; i < n; ++i) {
    const auto index = static_cast<int64_t>(std::floor(static_cast<double>(original) * i / static_cast<double>(n)));
    ts.push_back((original - index) * k - 1);
  }
  num_inference_steps_ = n;
  timesteps_ = torch::tensor(ts, torch::kInt64);
}

std::pair<float, float> LCMScheduler::boundary_scalings(int64_t t) const {
  const float sigma_data_sq = 0.25f;  // sigma_data 0.5
  const float scaled = static_cast<float>(t) * static_cast<float>(config_.get<double>("timestep_scaling"));
  const float c_skip = sigma_data_sq / (scaled * scaled + sigma_data_sq);
  const float c_out = scaled / std::sqrt(scaled * scaled + sigma_data_sq);
  return {c_skip, c_out};
}

SchedulerStep LCMScheduler::step(const torch::Tensor& out, int64_t i, const torch::Tensor& sample, at::Generator& gen) {
  check_index(i);
  const int64_t t = timesteps_[i].item<int64_t>();
  const bool last = i == num_inference_steps_ - 1;
  const int64_t prev_t = last ? t : timesteps_[i + 1].item<int64_t>();
  const float a_t = alphas_cumprod_[t].item<float>();
  const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t].item<float>() : final_alpha_cumprod_;
  const float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
  torch::Tensor x0;
  const auto type = config_.get<std::string>("prediction_type");
  if (type == "epsilon")
    x0 = (sample - std::sqrt(b_t) * out) / std::sqrt(a_t);
  else if (type == "v_prediction")
    x0 = std::sqrt(a_t) * sample - std::sqrt(b_t) * out;
  else if (type == "sample")
    x0 = out;
  else
    fail(config_.source(), ": field 'prediction_type' value '", type, "' is not supported");
  if (config_.get<bool>("clip_sample")) {
    const double r = config_.get<double>("clip_sample_range");
    x0 = x0.clamp(-r, r);
  }
  const auto [c_skip, c_out] = boundary_scalings(t);
  const auto denoised = c_out * x0 + c_skip * sample;
  if (last) return {denoised, denoised};  // no noise after the last step (nor for one-step sampling)
  return {std::sqrt(a_prev) * denoised + std::sqrt(b_prev) * schedule::noise_like(denoised, gen), denoised};
}

}  // namespace prtkl
