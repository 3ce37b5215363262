// AutoencoderKL (diffusers), sized from config.json: encoder to a diagonal Gaussian over latents, decoder back.
#pragma once
#include <torch/torch.h>

#include "core/json_config.h"
#include "models/unet_blocks.h"

namespace prtkl {

struct LatentDistribution {
  torch::Tensor mean, logvar, std;  // logvar clamped to [-30, 20] as diffusers does
  torch::Tensor sample(at::Generator& gen) const;  // mean + std · randn(mean.shape, gen), drawn like diffusers
};

// One half of the autoencoder: conv_in, resnet blocks with down/up sampling, a mid block, norm, conv_out.
class VaeCoderImpl : public torch::nn::Module {
 public:
  VaeCoderImpl(const Config& cfg, bool decoder);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  struct Level {
    std::vector<ResnetBlock2D> resnets;
    Downsample2D down{nullptr};
    Upsample2D up{nullptr};
  };
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<Level> levels_;
  ResnetBlock2D mid_0{nullptr}, mid_1{nullptr};
  SpatialSelfAttention mid_attn{nullptr};
  GroupNorm conv_norm_out{nullptr};
  bool decoder_ = false;
};
TORCH_MODULE(VaeCoder);

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const Config& config);
  LatentDistribution encode(const torch::Tensor& image);  // [B,3,H,W] in [-1,1]
  torch::Tensor decode(const torch::Tensor& latents);     // unscaled latents -> [B,3,H,W], not clamped
  double scaling_factor() const { return scaling_factor_; }
  static bool force_upcast(const Config& config);  // fp16 overflows (the SDXL VAE): keep it in fp32
  const Config& config() const { return config_; }

 private:
  Config config_;
  double scaling_factor_;
  VaeCoder encoder{nullptr}, decoder{nullptr};
  Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
};
TORCH_MODULE(AutoencoderKL);

}  // namespace prtkl
