#include "train/consistency_distillation.h"

#include "core/error.h"

namespace prtkl {

namespace {

constexpr double kSigmaData = 0.5;       // LCMScheduler's boundary condition
constexpr double kTimestepScaling = 10;  // its timestep_scaling

}  // namespace

ConsistencyDistillation::ConsistencyDistillation(const Config& scheduler_config, const std::string& prediction_type,
                                                 int64_t original_steps, double guidance_scale, double huber_c)
    : schedule_(scheduler_config),
      prediction_type_(prediction_type.empty() ? schedule_.prediction_type() : prediction_type),
      guidance_scale_(guidance_scale),
      huber_c_(huber_c) {
  const int64_t T = schedule_.num_train_timesteps();
  if (original_steps < 1 || original_steps > T)
    fail("lcm_original_steps ", original_steps, " must be in [1, ", T, "] (the model's training timesteps)");
  if (prediction_type_ != "epsilon" && prediction_type_ != "v_prediction")
    fail("distillation: prediction type \"", prediction_type_, "\" is not supported (epsilon or v_prediction)");
  skip_ = T / original_steps;
  solver_timesteps_ = torch::arange(1, original_steps + 1, torch::kInt64) * skip_ - 1;
}

ConsistencyDistillation::Draw ConsistencyDistillation::draw(int64_t batch, const std::vector<int64_t>& latent_shape,
                                                            at::Generator& g) const {
  auto shape = latent_shape;
  shape.insert(shape.begin(), batch);
  auto noise = torch::randn(shape, g, torch::kFloat32);
  auto index = torch::randint(0, solver_timesteps_.size(0), {batch}, g, torch::TensorOptions(torch::kInt64));
  return {noise, index};
}

torch::Tensor ConsistencyDistillation::per_sample(const torch::Tensor& coefficient, const torch::Tensor& t) const {
  return coefficient.to(t.device()).index_select(0, t).to(torch::kFloat32).view({-1, 1, 1, 1});
}

std::pair<torch::Tensor, torch::Tensor> ConsistencyDistillation::boundary_scalings(const torch::Tensor& t) const {
  const auto s = t.to(torch::kFloat64) * kTimestepScaling;
  const auto c_skip = kSigmaData * kSigmaData / (s * s + kSigmaData * kSigmaData);
  const auto c_out = s / torch::sqrt(s * s + kSigmaData * kSigmaData);
  return {c_skip.to(torch::kFloat32).view({-1, 1, 1, 1}), c_out.to(torch::kFloat32).view({-1, 1, 1, 1})};
}

torch::Tensor ConsistencyDistillation::predicted_x0(const torch::Tensor& out, const torch::Tensor& x,
                                                    const torch::Tensor& t) const {
  const auto acp = per_sample(schedule_.alphas_cumprod(), t);
  const auto alpha = acp.sqrt(), sigma = (1 - acp).sqrt();
  const auto o = out.to(torch::kFloat32);
  return prediction_type_ == "v_prediction" ? alpha * x - sigma * o : (x - sigma * o) / alpha;
}

torch::Tensor ConsistencyDistillation::predicted_noise(const torch::Tensor& out, const torch::Tensor& x,
                                                       const torch::Tensor& t) const {
  const auto acp = per_sample(schedule_.alphas_cumprod(), t);
  const auto o = out.to(torch::kFloat32);
  return prediction_type_ == "v_prediction" ? acp.sqrt() * o + (1 - acp).sqrt() * x : o;
}

torch::Tensor ConsistencyDistillation::guide(const torch::Tensor& cond, const torch::Tensor& uncond) const {
  return uncond + guidance_scale_ * (cond - uncond);
}

torch::Tensor ConsistencyDistillation::per_sample_loss(const torch::Tensor& x0, const torch::Tensor& noise,
                                                       const torch::Tensor& index, const Denoiser& student,
                                                       const Denoiser& guided_teacher, const Denoiser& target) const {
  const auto dev = x0.device();
  const auto s = solver_timesteps_.to(dev).index_select(0, index.to(dev));
  const auto t = torch::clamp_min(s - skip_, 0);
  const auto x_s = schedule_.add_noise(x0, noise, s);
  // The target first: the target network may be the student's own weights swapped for their EMA, which must not
  // happen between the student's forward and its backward.
  torch::Tensor goal;
  {
    torch::NoGradGuard no_grad;
    const auto teacher = guided_teacher(x_s, s);
    const auto acp_t = per_sample(schedule_.alphas_cumprod(), t);
    const auto x_t = acp_t.sqrt() * predicted_x0(teacher, x_s, s) + (1 - acp_t).sqrt() * predicted_noise(teacher, x_s, s);
    const auto [skip_t, out_t] = boundary_scalings(t);
    goal = skip_t * x_t + out_t * predicted_x0(target(x_t, t), x_t, t);
  }
  const auto [skip_s, out_s] = boundary_scalings(s);
  const auto prediction = skip_s * x_s + out_s * predicted_x0(student(x_s, s), x_s, s);
  const auto d = prediction - goal;
  return (torch::sqrt(d * d + huber_c_ * huber_c_) - huber_c_).mean({1, 2, 3});
}

}  // namespace prtkl
