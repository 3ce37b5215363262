#include "train/autoencoder_loss.h"

#include <algorithm>

namespace prtkl {

torch::Tensor autoencoder_loss(AutoencoderKL& vae, const torch::Tensor& pixels, at::Generator& g, double kl_weight,
                               bool decoder_only) {
  const auto dist = vae->encode(pixels);  // in the decoder stage its weights are frozen: no graph is recorded
  const auto rec = vae->decode(dist.sample(g));
  const auto l1 = torch::l1_loss(rec.to(torch::kFloat32), pixels.to(torch::kFloat32));
  if (decoder_only) return l1;
  // In fp32 under autocast too: a bf16 sum over the latent would keep 3 significant digits.
  const auto mean = dist.mean.to(torch::kFloat32), logvar = dist.logvar.to(torch::kFloat32);
  const auto kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum({1, 2, 3}).mean();
  return l1 + kl_weight * kl;
}

double measured_latent_scaling(AutoencoderKL& vae, const std::vector<torch::Tensor>& pictures, uint64_t seed,
                               torch::Device device, torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  at::Generator g = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> z;
  const size_t n = std::min<size_t>(256, pictures.size());
  for (size_t i = 0; i < n; i += 32) {
    const std::vector<torch::Tensor> batch(pictures.begin() + i, pictures.begin() + std::min(n, i + 32));
    z.push_back(vae->encode(torch::stack(batch).to(device, dtype)).sample(g).to(torch::kFloat32).cpu());
  }
  return 1.0 / torch::cat(z).std().item<double>();
}

}  // namespace prtkl
