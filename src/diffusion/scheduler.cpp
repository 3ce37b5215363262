#include "diffusion/scheduler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "diffusion/ddim_scheduler.h"
#include "diffusion/dpm_solver_scheduler.h"
#include "diffusion/euler_schedulers.h"
#include "diffusion/lcm_scheduler.h"

namespace prtkl {

Scheduler::Scheduler(Config config) : config_(std::move(config)) { alphas_cumprod_ = schedule::alphas_cumprod(config_); }

void Scheduler::check_steps(int64_t n) const {
  const auto train = config_.get<int64_t>("num_train_timesteps");
  if (n < 1 || n > train) fail("steps must be between 1 and ", train, " (got ", n, ")");
}

void Scheduler::check_index(int64_t i) const {
  if (!timesteps_.defined()) fail("scheduler: set_timesteps was not called");
  if (i < 0 || i >= timesteps_.size(0)) fail("scheduler: step index ", i, " out of range");
}

namespace schedule {

torch::Tensor noise_like(const torch::Tensor& t, at::Generator& gen) {
  return torch::randn(t.sizes(), gen, t.options().device(torch::kCPU)).to(t.device());
}

torch::Tensor alphas_cumprod(const Config& c) {
  const auto T = c.get<int64_t>("num_train_timesteps");
  const auto start = c.get<double>("beta_start"), end = c.get<double>("beta_end");
  const auto kind = c.get<std::string>("beta_schedule");
  if (c.get_or<bool>("rescale_betas_zero_snr", false)) fail(c.source(), ": field 'rescale_betas_zero_snr' is not supported");
  torch::Tensor betas;
  if (c.has("trained_betas")) {
    betas = torch::tensor(c.get<std::vector<double>>("trained_betas"), torch::kFloat32);
  } else if (kind == "linear") {
    betas = torch::linspace(start, end, T, torch::kFloat32);
  } else if (kind == "scaled_linear") {
    betas = torch::linspace(std::sqrt(start), std::sqrt(end), T, torch::kFloat32).pow(2);
  } else if (kind == "squaredcos_cap_v2") {
    auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
    std::vector<double> b;
    for (int64_t i = 0; i < T; ++i)
      b.push_back(std::min(1 - alpha_bar(double(i + 1) / T) / alpha_bar(double(i) / T), 0.999));
    betas = torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
  } else {
    fail(c.source(), ": field 'beta_schedule' value '", kind, "' is not supported");
  }
  return torch::cumprod(1.0 - betas, 0);
}

std::vector<float> train_sigmas(const torch::Tensor& acp) {
  auto s = ((1 - acp) / acp).pow(0.5).contiguous();
  return std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
}

std::vector<double> interp(const std::vector<double>& x, const std::vector<float>& fp) {
  std::vector<double> out;
  const auto n = static_cast<int64_t>(fp.size());
  for (double v : x) {
    if (v <= 0) { out.push_back(fp.front()); continue; }
    if (v >= n - 1) { out.push_back(fp.back()); continue; }
    const auto j = static_cast<int64_t>(std::floor(v));
    const double slope = (double(fp[j + 1]) - double(fp[j])) / 1.0;
    out.push_back(v == j ? double(fp[j]) : slope * (v - j) + double(fp[j]));
  }
  return out;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n) {
  const double rho = 7.0;
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i) {
    const double ramp = n == 1 ? 0.0 : double(i) / double(n - 1);
    out.push_back(std::pow(max_inv + ramp * (min_inv - max_inv), rho));
  }
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const auto n = static_cast<int64_t>(log_sigmas.size());
  // low_idx: the last index whose log sigma is <= log_sigma (argmax of the cumulative count), capped at n - 2.
  int64_t count = 0, low = 0, best = -1;
  for (int64_t i = 0; i < n; ++i) {
    count += (log_sigma - double(log_sigmas[i])) >= 0;
    if (count > best) { best = count; low = i; }
  }
  low = std::min(low, n - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * low + w * (low + 1);
}

std::vector<double> arange(double start, double stop, double step) {
  std::vector<double> out;
  const auto n = static_cast<int64_t>(std::ceil((stop - start) / step));
  for (int64_t i = 0; i < n; ++i) out.push_back(start + i * step);
  return out;
}

Config resolve(const Config& model_config, const Json& defaults, const Json& overrides) {
  Json merged = defaults;
  for (const auto& [k, v] : model_config.json().items())
    if (defaults.contains(k)) merged[k] = v;
  for (const auto& [k, v] : overrides.items()) merged[k] = v;
  return Config(merged, model_config.source().empty() ? "scheduler config" : model_config.source());
}

}  // namespace schedule

std::vector<std::string> scheduler_names() {
  return {"euler", "euler_karras", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "lcm"};
}

std::string scheduler_list(const std::string& separator) {
  std::string out;
  for (const auto& n : scheduler_names()) out += (out.empty() ? "" : separator) + n;
  return out;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const Config& model_config, const Json& overrides) {
  Json o = overrides;
  auto karras = [&](bool on) {
    if (!o.contains("use_karras_sigmas")) o["use_karras_sigmas"] = on;
  };
  if (name == "euler" || name == "euler_karras") {
    karras(name == "euler_karras");
    return std::make_unique<EulerScheduler>(model_config, o);
  }
  if (name == "euler_a") return std::make_unique<EulerAncestralScheduler>(model_config, o);
  if (name == "ddim") return std::make_unique<DDIMScheduler>(model_config, o);
  if (name == "dpmpp_2m" || name == "dpmpp_2m_karras") {
    karras(name == "dpmpp_2m_karras");
    return std::make_unique<DPMSolverMultistepScheduler>(model_config, o);
  }
  if (name == "lcm") return std::make_unique<LCMScheduler>(model_config, o);
  fail("unknown sampler '", name, "' (known: ", scheduler_list(", "), ")");
}

}  // namespace prtkl
