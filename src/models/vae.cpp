#include "models/vae.h"

#include "core/error.h"

namespace prtkl {

torch::Tensor LatentDistribution::sample(at::Generator& gen) const {
  auto noise = torch::randn(mean.sizes(), gen, mean.options().device(torch::kCPU)).to(mean.device());
  return mean + std * noise;
}

VaeCoderImpl::VaeCoderImpl(const Config& cfg, bool decoder) {
  const auto boc = cfg.get<std::vector<int64_t>>("block_out_channels");
  const int64_t layers = cfg.get_or<int64_t>("layers_per_block", 2);
  const int64_t groups = cfg.get_or<int64_t>("norm_num_groups", 32);
  const int64_t latent = cfg.get_or<int64_t>("latent_channels", 4);
  const double eps = 1e-6;
  const auto types = cfg.get<std::vector<std::string>>(decoder ? "up_block_types" : "down_block_types");
  for (const auto& t : types)
    if (t != (decoder ? "UpDecoderBlock2D" : "DownEncoderBlock2D"))
      fail(cfg.source(), ": block type '", t, "' is not supported");
  if (types.size() != boc.size()) fail(cfg.source(), ": block types and block_out_channels differ in length");
  const size_t n = boc.size();
  auto conv3 = [](int64_t in, int64_t out) { return Conv2d(in, out, 3, 1, 1); };

  conv_in = register_module("conv_in", conv3(decoder ? latent : cfg.get_or<int64_t>("in_channels", 3), decoder ? boc.back() : boc[0]));
  auto list = register_module(decoder ? "up_blocks" : "down_blocks", torch::nn::ModuleList());
  int64_t out = decoder ? boc.back() : boc[0];
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = decoder ? boc[n - 1 - i] : boc[i];
    auto holder = std::make_shared<torch::nn::Module>();
    auto resnets = holder->register_module("resnets", torch::nn::ModuleList());
    Level level;
    for (int64_t j = 0; j < layers + (decoder ? 1 : 0); ++j) {
      level.resnets.push_back(ResnetBlock2D(j == 0 ? in : out, out, 0, groups, eps));
      resnets->push_back(level.resnets.back());
    }
    if (i + 1 < n) {
      if (decoder) {
        level.up = Upsample2D(out);
        holder->register_module("upsamplers", torch::nn::ModuleList(level.up));
      } else {
        level.down = Downsample2D(out, 0);
        holder->register_module("downsamplers", torch::nn::ModuleList(level.down));
      }
    }
    list->push_back(holder);
    levels_.push_back(std::move(level));
  }
  const int64_t mid_ch = boc.back();
  auto mid = register_module("mid_block", std::make_shared<torch::nn::Module>());
  mid_0 = ResnetBlock2D(mid_ch, mid_ch, 0, groups, eps);
  mid_1 = ResnetBlock2D(mid_ch, mid_ch, 0, groups, eps);
  mid_attn = SpatialSelfAttention(mid_ch, groups, eps);
  mid->register_module("resnets", torch::nn::ModuleList(mid_0, mid_1));
  mid->register_module("attentions", torch::nn::ModuleList(mid_attn));
  const int64_t last = decoder ? boc[0] : boc.back();
  conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, last, eps));
  conv_out = register_module("conv_out", conv3(last, decoder ? cfg.get_or<int64_t>("out_channels", 3) : 2 * latent));
  decoder_ = decoder;
}

torch::Tensor VaeCoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);
  auto mid = [&]() { h = mid_1(mid_attn(mid_0(h))); };
  if (decoder_) mid();
  for (auto& level : levels_) {
    for (auto& r : level.resnets) h = r(h);
    if (!level.down.is_empty()) h = level.down(h);
    if (!level.up.is_empty()) h = level.up(h);
  }
  if (!decoder_) mid();
  return conv_out(norm_silu(conv_norm_out, h));
}

bool AutoencoderKLImpl::force_upcast(const Config& cfg) { return cfg.get_or<bool>("force_upcast", false); }

AutoencoderKLImpl::AutoencoderKLImpl(const Config& cfg)
    : config_(cfg),
      scaling_factor_(cfg.get_or<double>("scaling_factor", 0.18215)) {
  if (cfg.has("shift_factor")) fail(cfg.source(), ": field 'shift_factor' is not supported (not an SD 1.x/SDXL VAE)");
  const int64_t latent = cfg.get_or<int64_t>("latent_channels", 4);
  encoder = register_module("encoder", VaeCoder(cfg, false));
  decoder = register_module("decoder", VaeCoder(cfg, true));
  if (cfg.get_or<bool>("use_quant_conv", true))
    quant_conv = register_module("quant_conv", Conv2d(2 * latent, 2 * latent, 1));
  if (cfg.get_or<bool>("use_post_quant_conv", true))
    post_quant_conv = register_module("post_quant_conv", Conv2d(latent, latent, 1));
}

LatentDistribution AutoencoderKLImpl::encode(const torch::Tensor& image) {
  auto moments = encoder(image);
  if (!quant_conv.is_empty()) moments = quant_conv(moments);
  auto parts = moments.chunk(2, 1);
  LatentDistribution d;
  d.mean = parts[0];
  d.logvar = parts[1].clamp(-30.0, 20.0);
  d.std = torch::exp(0.5 * d.logvar);
  return d;
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& latents) {
  auto z = post_quant_conv.is_empty() ? latents : post_quant_conv(latents);
  return decoder(z);
}

}  // namespace prtkl
