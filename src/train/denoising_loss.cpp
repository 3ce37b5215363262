#include "train/denoising_loss.h"

namespace prtkl {

torch::Tensor batch_share(const torch::Tensor& per_sample, int64_t batch) {
  return per_sample.size(0) == batch ? per_sample.mean() : per_sample.sum() / static_cast<double>(batch);
}

DenoisingLoss::DenoisingLoss(const Config& scheduler_config, const std::string& prediction_type, double snr_gamma,
                             double noise_offset)
    : schedule_(scheduler_config),
      prediction_type_(prediction_type.empty() ? schedule_.prediction_type() : prediction_type),
      snr_gamma_(snr_gamma),
      noise_offset_(noise_offset) {}

DenoisingLoss::Draw DenoisingLoss::draw(int64_t batch, const std::vector<int64_t>& latent_shape,
                                        at::Generator& g) const {
  auto shape = latent_shape;
  shape.insert(shape.begin(), batch);
  auto noise = torch::randn(shape, g, torch::kFloat32);
  // Offset noise (Guttenberg 2023): a per-channel constant lets the model shift a picture's mean brightness.
  if (noise_offset_ > 0) noise = noise + noise_offset_ * torch::randn({batch, shape[1], 1, 1}, g, torch::kFloat32);
  auto t = torch::randint(0, schedule_.num_train_timesteps(), {batch}, g, torch::TensorOptions(torch::kInt64));
  return {noise, t};
}

DenoisingLoss::Inputs DenoisingLoss::inputs(const torch::Tensor& x0, const torch::Tensor& noise,
                                            const torch::Tensor& timesteps) const {
  const auto noisy = schedule_.add_noise(x0, noise, timesteps);
  return {noisy, prediction_type_ == "v_prediction" ? schedule_.get_velocity(x0, noise, timesteps) : noise};
}

torch::Tensor DenoisingLoss::loss(const torch::Tensor& pred, const torch::Tensor& target,
                                  const torch::Tensor& timesteps, int64_t batch) const {
  const bool whole = pred.size(0) == batch;
  if (snr_gamma_ <= 0 && whole) return torch::mse_loss(pred.to(torch::kFloat32), target.to(torch::kFloat32));
  auto per_sample = (pred.to(torch::kFloat32) - target.to(torch::kFloat32)).pow(2).mean({1, 2, 3});
  if (snr_gamma_ > 0) {
    // Min-SNR-γ as diffusers weights it: min(SNR, γ)/SNR, plus 1 for v-prediction.
    const auto acp = schedule_.alphas_cumprod().to(pred.device()).index_select(0, timesteps).to(torch::kFloat32);
    const auto snr = acp / (1 - acp);
    auto w = torch::clamp_max(snr, snr_gamma_) / snr;
    if (prediction_type_ == "v_prediction") w = w + 1;
    per_sample = per_sample * w;
  }
  return batch_share(per_sample, batch);
}

}  // namespace prtkl
