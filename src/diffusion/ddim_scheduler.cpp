#include "diffusion/ddim_scheduler.h"

#include <cmath>

#include "core/error.h"

namespace prtkl {

namespace {
Json ddim_defaults() {
  return Json{{"num_train_timesteps", 1000}, {"beta_start", 0.0001},      {"beta_end", 0.02},
              {"beta_schedule", "linear"},  {"trained_betas", nullptr},  {"clip_sample", true},
              {"set_alpha_to_one", true},   {"steps_offset", 0},         {"prediction_type", "epsilon"},
              {"thresholding", false},      {"clip_sample_range", 1.0},  {"timestep_spacing", "leading"},
              {"rescale_betas_zero_snr", false}};
}
}  // namespace

DDIMScheduler::DDIMScheduler(const Config& model_config, const Json& overrides)
    : Scheduler(schedule::resolve(model_config, ddim_defaults(), overrides)) {
  if (config_.get_or<bool>("thresholding", false)) fail(config_.source(), ": field 'thresholding' is not supported");
  final_alpha_cumprod_ = config_.get<bool>("set_alpha_to_one") ? 1.0f : alphas_cumprod_[0].item<float>();
}

void DDIMScheduler::set_timesteps(int64_t n) {
  check_steps(n);
  num_inference_steps_ = n;
  const auto T = config_.get<int64_t>("num_train_timesteps");
  const auto spacing = config_.get<std::string>("timestep_spacing");
  std::vector<int64_t> ts;
  if (spacing == "linspace") {
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(static_cast<int64_t>(std::nearbyint(n == 1 ? 0.0 : double(T - 1) * i / double(n - 1))));
  } else if (spacing == "leading") {
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(i * (T / n) + config_.get<int64_t>("steps_offset"));
  } else if (spacing == "trailing") {
    for (double v : schedule::arange(double(T), 0, -double(T) / n)) ts.push_back(static_cast<int64_t>(std::nearbyint(v)) - 1);
  } else {
    fail(config_.source(), ": field 'timestep_spacing' value '", spacing, "' is not supported");
  }
  timesteps_ = torch::tensor(ts, torch::kInt64);
}

SchedulerStep DDIMScheduler::step(const torch::Tensor& out, int64_t i, const torch::Tensor& sample, at::Generator&) {
  check_index(i);
  const int64_t t = timesteps_[i].item<int64_t>();
  const int64_t prev_t = t - config_.get<int64_t>("num_train_timesteps") / num_inference_steps_;
  const float a_t = alphas_cumprod_[t].item<float>();
  const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t].item<float>() : final_alpha_cumprod_;
  const float b_t = 1.0f - a_t;
  torch::Tensor x0, eps;
  const auto type = config_.get<std::string>("prediction_type");
  if (type == "epsilon") {
    x0 = (sample - std::sqrt(b_t) * out) / std::sqrt(a_t);
    eps = out;
  } else if (type == "v_prediction") {
    x0 = std::sqrt(a_t) * sample - std::sqrt(b_t) * out;
    eps = std::sqrt(a_t) * out + std::sqrt(b_t) * sample;
  } else {
    fail(config_.source(), ": field 'prediction_type' value '", type, "' is not supported");
  }
  if (config_.get<bool>("clip_sample")) {
    const double r = config_.get<double>("clip_sample_range");
    x0 = x0.clamp(-r, r);
  }
  auto direction = std::sqrt(1.0f - a_prev) * eps;
  return {std::sqrt(a_prev) * x0 + direction, x0};
}

}  // namespace prtkl
