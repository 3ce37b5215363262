#include "diffusion/euler_schedulers.h"

#include <cmath>

#include "core/error.h"

namespace prtkl {

namespace {

Json euler_defaults() {
  return Json{{"num_train_timesteps", 1000}, {"beta_start", 0.0001}, {"beta_end", 0.02},
              {"beta_schedule", "linear"},  {"trained_betas", nullptr}, {"prediction_type", "epsilon"},
              {"interpolation_type", "linear"}, {"use_karras_sigmas", false}, {"timestep_spacing", "linspace"},
              {"steps_offset", 0},          {"rescale_betas_zero_snr", false}, {"final_sigmas_type", "zero"},
              {"sigma_min", nullptr},       {"sigma_max", nullptr}, {"timestep_type", "discrete"}};
}

Json euler_ancestral_defaults() {
  Json d = euler_defaults();
  for (const char* k : {"use_karras_sigmas", "final_sigmas_type", "sigma_min", "sigma_max", "timestep_type"}) d.erase(k);
  return d;
}

}  // namespace

EulerFamilyScheduler::EulerFamilyScheduler(const Config& model_config, const Json& defaults, const Json& overrides)
    : Scheduler(schedule::resolve(model_config, defaults, overrides)) {
  karras_ = config_.get_or<bool>("use_karras_sigmas", false);
  if (config_.get_or<std::string>("interpolation_type", "linear") != "linear")
    fail(config_.source(), ": field 'interpolation_type' must be 'linear'");
  if (config_.get_or<std::string>("final_sigmas_type", "zero") != "zero")
    fail(config_.source(), ": field 'final_sigmas_type' must be 'zero'");
}

void EulerFamilyScheduler::set_timesteps(int64_t n) {
  check_steps(n);
  const auto T = config_.get<int64_t>("num_train_timesteps");
  const auto spacing = config_.get<std::string>("timestep_spacing");
  const auto offset = config_.get<int64_t>("steps_offset");
  std::vector<double> ts;
  if (spacing == "linspace") {
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(static_cast<float>(n == 1 ? 0.0 : double(T - 1) * i / double(n - 1)));
  } else if (spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(static_cast<float>(i * ratio) + static_cast<float>(offset));
  } else if (spacing == "trailing") {
    for (double v : schedule::arange(double(T), 0, -double(T) / n)) ts.push_back(static_cast<float>(std::round(v)) - 1.0f);
  } else {
    fail(config_.source(), ": field 'timestep_spacing' value '", spacing, "' is not supported");
  }
  const auto train = schedule::train_sigmas(alphas_cumprod_);
  auto sig = schedule::interp(ts, train);
  if (karras_) {
    std::vector<float> log_sigmas;
    for (float s : train) log_sigmas.push_back(std::log(s));
    sig = schedule::karras_sigmas(sig.back(), sig.front(), n);
    ts.clear();
    for (double s : sig) ts.push_back(schedule::sigma_to_t(s, log_sigmas));
  }
  sig.push_back(0.0);
  timesteps_ = torch::tensor(std::vector<float>(ts.begin(), ts.end()), torch::kFloat32);
  sigmas_ = torch::tensor(std::vector<float>(sig.begin(), sig.end()), torch::kFloat32);
}

double EulerFamilyScheduler::init_noise_sigma() const {
  const float max_sigma = sigmas_.defined() ? sigmas_.max().item<float>() : 1.0f;
  const auto spacing = config_.get<std::string>("timestep_spacing");
  if (spacing == "linspace" || spacing == "trailing") return max_sigma;
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

torch::Tensor EulerFamilyScheduler::scale_model_input(const torch::Tensor& sample, int64_t i) const {
  check_index(i);
  const float s = sigma(i);
  return sample / std::sqrt(s * s + 1.0f);
}

torch::Tensor EulerFamilyScheduler::predict_original(const torch::Tensor& out, const torch::Tensor& sample,
                                                     float s) const {
  const auto type = config_.get<std::string>("prediction_type");
  if (type == "epsilon") return sample - s * out;
  if (type == "v_prediction") return out * (-s / std::sqrt(s * s + 1.0f)) + sample / (s * s + 1.0f);
  fail(config_.source(), ": field 'prediction_type' value '", type, "' is not supported");
}

EulerScheduler::EulerScheduler(const Config& model_config, const Json& overrides)
    : EulerFamilyScheduler(model_config, euler_defaults(), overrides) {}

SchedulerStep EulerScheduler::step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample_in,
                                   at::Generator& gen) {
  check_index(i);
  const auto sample = sample_in.to(torch::kFloat32);
  // With s_churn = 0 the noise is unused, but diffusers draws it every step: keep the generator in step.
  schedule::noise_like(model_output, gen);
  const float s = sigma(i);
  auto x0 = predict_original(model_output, sample, s);
  auto derivative = (sample - x0) / s;
  const float dt = sigma(i + 1) - s;
  return {(sample + derivative * dt).to(model_output.scalar_type()), x0};
}

EulerAncestralScheduler::EulerAncestralScheduler(const Config& model_config, const Json& overrides)
    : EulerFamilyScheduler(model_config, euler_ancestral_defaults(), overrides) {}

SchedulerStep EulerAncestralScheduler::step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample_in,
                                            at::Generator& gen) {
  check_index(i);
  const auto sample = sample_in.to(torch::kFloat32);
  const float from = sigma(i), to = sigma(i + 1);
  auto x0 = predict_original(model_output, sample, from);
  const float up = std::sqrt(to * to * (from * from - to * to) / (from * from));
  const float down = std::sqrt(to * to - up * up);
  auto derivative = (sample - x0) / from;
  const float dt = down - from;
  auto prev = sample + derivative * dt;
  prev = prev + schedule::noise_like(model_output, gen) * up;
  return {prev.to(model_output.scalar_type()), x0};
}

}  // namespace prtkl
