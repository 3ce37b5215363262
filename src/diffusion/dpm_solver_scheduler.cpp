#include "diffusion/dpm_solver_scheduler.h"

#include <cmath>

#include "core/error.h"

namespace prtkl {

namespace {

Json dpm_defaults() {
  return Json{{"num_train_timesteps", 1000},   {"beta_start", 0.0001},        {"beta_end", 0.02},
              {"beta_schedule", "linear"},    {"trained_betas", nullptr},    {"solver_order", 2},
              {"prediction_type", "epsilon"}, {"thresholding", false},       {"algorithm_type", "dpmsolver++"},
              {"solver_type", "midpoint"},    {"lower_order_final", true},   {"euler_at_final", false},
              {"use_karras_sigmas", false},   {"use_lu_lambdas", false},     {"final_sigmas_type", "zero"},
              {"lambda_min_clipped", nullptr}, {"variance_type", nullptr},   {"timestep_spacing", "linspace"},
              {"steps_offset", 0},            {"rescale_betas_zero_snr", false}};
}

struct AlphaSigma {
  float alpha, sigma, lambda;
};
AlphaSigma alpha_sigma(float s) {
  const float alpha = 1.0f / std::sqrt(s * s + 1.0f);
  const float sigma = s * alpha;
  return {alpha, sigma, std::log(alpha) - std::log(sigma)};
}

}  // namespace

DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(const Config& model_config, const Json& overrides)
    : Scheduler(schedule::resolve(model_config, dpm_defaults(), overrides)) {
  karras_ = config_.get<bool>("use_karras_sigmas");
  auto require = [&](const char* field, const std::string& value) {
    if (config_.get_or<std::string>(field, value) != value)
      fail(config_.source(), ": field '", field, "' must be '", value, "' (only DPM++ 2M is implemented)");
  };
  require("algorithm_type", "dpmsolver++");
  require("solver_type", "midpoint");
  require("final_sigmas_type", "zero");
  if (config_.get<int64_t>("solver_order") != 2) fail(config_.source(), ": field 'solver_order' must be 2");
  if (config_.get_or<bool>("thresholding", false) || config_.get_or<bool>("use_lu_lambdas", false) ||
      config_.get_or<bool>("euler_at_final", false))
    fail(config_.source(), ": thresholding, use_lu_lambdas and euler_at_final are not supported");
}

void DPMSolverMultistepScheduler::set_timesteps(int64_t n) {
  check_steps(n);
  const auto T = config_.get<int64_t>("num_train_timesteps");
  const auto spacing = config_.get<std::string>("timestep_spacing");
  std::vector<double> ts;  // lambda_min_clipped = -inf keeps the whole range: last timestep T
  if (spacing == "linspace") {
    for (int64_t i = n; i >= 1; --i) ts.push_back(std::nearbyint(double(T - 1) * i / double(n)));
  } else if (spacing == "leading") {
    const int64_t ratio = T / (n + 1);
    for (int64_t i = n; i >= 1; --i) ts.push_back(double(i * ratio + config_.get<int64_t>("steps_offset")));
  } else if (spacing == "trailing") {
    for (double v : schedule::arange(double(T), 0, -double(T) / n)) ts.push_back(std::nearbyint(v) - 1);
  } else {
    fail(config_.source(), ": field 'timestep_spacing' value '", spacing, "' is not supported");
  }
  const auto train = schedule::train_sigmas(alphas_cumprod_);
  std::vector<double> sig;
  if (karras_) {
    std::vector<float> log_sigmas;
    for (float s : train) log_sigmas.push_back(std::log(s));
    sig = schedule::karras_sigmas(train.front(), train.back(), n);
    ts.clear();
    for (double s : sig) ts.push_back(std::nearbyint(schedule::sigma_to_t(s, log_sigmas)));
  } else {
    sig = schedule::interp(ts, train);
  }
  sig.push_back(0.0);
  std::vector<int64_t> its(ts.begin(), ts.end());
  timesteps_ = torch::tensor(its, torch::kInt64);
  sigmas_ = torch::tensor(std::vector<float>(sig.begin(), sig.end()), torch::kFloat32);
  model_outputs_.assign(2, torch::Tensor());
  lower_order_nums_ = 0;
}

SchedulerStep DPMSolverMultistepScheduler::step(const torch::Tensor& out, int64_t i, const torch::Tensor& sample_in,
                                                at::Generator&) {
  check_index(i);
  const auto sample = sample_in.to(torch::kFloat32);
  const int64_t n = timesteps_.size(0);
  // final_sigmas_type "zero" always ends with a first-order step; with order 2 every other step after the
  // first is second order.
  const bool lower_final = i == n - 1;

  const auto s0 = alpha_sigma(sigmas_[i].item<float>());
  torch::Tensor x0;
  const auto type = config_.get<std::string>("prediction_type");
  if (type == "epsilon") x0 = (sample - s0.sigma * out) / s0.alpha;
  else if (type == "v_prediction") x0 = s0.alpha * sample - s0.sigma * out;
  else fail(config_.source(), ": field 'prediction_type' value '", type, "' is not supported");
  model_outputs_[0] = model_outputs_[1];
  model_outputs_[1] = x0;

  const auto t = alpha_sigma(sigmas_[i + 1].item<float>());
  const float h = t.lambda - s0.lambda;
  const float ratio = t.sigma / s0.sigma;
  const float coef = t.alpha * (std::exp(-h) - 1.0f);
  torch::Tensor prev;
  if (lower_order_nums_ < 1 || lower_final) {
    prev = ratio * sample - coef * x0;
  } else {
    const auto s1 = alpha_sigma(sigmas_[i - 1].item<float>());
    const float r0 = (s0.lambda - s1.lambda) / h;
    auto d1 = (1.0f / r0) * (model_outputs_[1] - model_outputs_[0]);
    prev = ratio * sample - coef * model_outputs_[1] - 0.5f * coef * d1;
  }
  if (lower_order_nums_ < 2) ++lower_order_nums_;
  return {prev.to(out.scalar_type()), {}};
}

}  // namespace prtkl
