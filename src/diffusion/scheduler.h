// Samplers as diffusers 0.29 implements them (Euler, Euler ancestral, DDIM, DPM++ 2M, with Karras sigmas where
// diffusers has them), driven by step index. Values match diffusers, including where it computes in float64
// (numpy) and where in float32 (torch), and every random draw it makes from the pipeline's generator.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/json_config.h"

namespace prtkl {

struct SchedulerStep {
  torch::Tensor prev_sample;
  torch::Tensor pred_original_sample;  // undefined where diffusers' step does not return it
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void set_timesteps(int64_t num_inference_steps) = 0;  // throws prtkl::Error for < 1
  const torch::Tensor& timesteps() const { return timesteps_; }  // float32 (Euler family) or int64 (DDIM, DPM++)
  const torch::Tensor& sigmas() const { return sigmas_; }        // N + 1 entries ending in 0; undefined for DDIM
  virtual double init_noise_sigma() const { return 1.0; }
  virtual torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) const { return sample; }
  virtual SchedulerStep step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                             at::Generator& gen) = 0;
  virtual std::string name() const = 0;          // "euler", "euler_a", ...
  virtual std::string display_name() const = 0;  // AUTOMATIC1111's sampler name: "Euler", "DPM++ 2M Karras", ...
  const Config& config() const { return config_; }  // the resolved config

 protected:
  explicit Scheduler(Config config);
  void check_steps(int64_t n) const;
  void check_index(int64_t step_index) const;
  Config config_;
  torch::Tensor alphas_cumprod_;  // float32 [num_train_timesteps]
  torch::Tensor timesteps_, sigmas_;
};

// name: one of scheduler_names(). `model_config` is the model's
// scheduler_config.json; keys it lacks take the target class's defaults, as diffusers' Class.from_config does.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const Config& model_config,
                                          const Json& overrides = Json::object());
std::vector<std::string> scheduler_names();  // euler, euler_karras, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm
std::string scheduler_list(const std::string& separator);  // the names joined, for help texts and errors

namespace schedule {
// Shared noise-schedule math (the helpers every scheduler class of diffusers repeats).
torch::Tensor alphas_cumprod(const Config& config);                   // float32, from the beta schedule
std::vector<double> interp(const std::vector<double>& x, const std::vector<float>& fp);  // np.interp over 0..n-1
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n);         // rho = 7
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
std::vector<float> train_sigmas(const torch::Tensor& alphas_cumprod);  // ((1 - acp) / acp) ** 0.5, float32
// Noise in t's shape and dtype drawn on the CPU generator, as diffusers' randn_tensor does for CPU generators.
torch::Tensor noise_like(const torch::Tensor& t, at::Generator& gen);
// np.arange(start, stop, step) as float64.
std::vector<double> arange(double start, double stop, double step);
// Resolves `model_config` against a class's defaults and explicit overrides.
Config resolve(const Config& model_config, const Json& class_defaults, const Json& overrides);
}  // namespace schedule

}  // namespace prtkl
