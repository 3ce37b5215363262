#include "models/unet.h"

#include <cmath>

#include "core/error.h"
#include "models/activation_checkpoint.h"

namespace prtkl {

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos, double freq_shift) {
  const int64_t half = dim / 2;
  auto exponent = torch::arange(half, t.options().dtype(torch::kFloat32)) * (-std::log(10000.0)) / (half - freq_shift);
  auto emb = t.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);
  emb = flip_sin_to_cos ? torch::cat({torch::cos(emb), torch::sin(emb)}, -1) : torch::cat({torch::sin(emb), torch::cos(emb)}, -1);
  if (dim % 2 == 1) emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const Config& cfg) : config_(cfg) {
  const auto src = cfg.source();
  const auto boc = cfg.get<std::vector<int64_t>>("block_out_channels");
  const auto down_types = cfg.get<std::vector<std::string>>("down_block_types");
  const auto up_types = cfg.get<std::vector<std::string>>("up_block_types");
  const size_t n = boc.size();
  if (down_types.size() != n || up_types.size() != n)
    fail(src, ": down_block_types/up_block_types must have one entry per block_out_channels entry");
  const int64_t layers = cfg.get_or<int64_t>("layers_per_block", 2);
  const int64_t groups = cfg.get_or<int64_t>("norm_num_groups", 32);
  const double eps = cfg.get_or<double>("norm_eps", 1e-5);
  const int64_t cross = cfg.get<int64_t>("cross_attention_dim");
  const bool linear_proj = cfg.get_or<bool>("use_linear_projection", false);
  const bool upcast = cfg.get_or<bool>("upcast_attention", false);
  // diffusers' naming quirk: attention_head_dim holds the number of heads unless num_attention_heads is set.
  const auto heads = cfg.has("num_attention_heads") ? cfg.get_list<int64_t>("num_attention_heads", n, 8)
                                                    : cfg.get_list<int64_t>("attention_head_dim", n, 8);
  const auto depth = cfg.get_list<int64_t>("transformer_layers_per_block", n, 1);
  if (cfg.has("reverse_transformer_layers_per_block"))
    fail(src, ": field 'reverse_transformer_layers_per_block' is not supported");
  if (cfg.get_or<std::string>("mid_block_type", "UNetMidBlock2DCrossAttn") != "UNetMidBlock2DCrossAttn")
    fail(src, ": field 'mid_block_type' value is not supported (only UNetMidBlock2DCrossAttn)");
  if (cfg.has("class_embed_type")) fail(src, ": field 'class_embed_type' is not supported");
  if (cfg.get_or<std::string>("resnet_time_scale_shift", "default") != "default")
    fail(src, ": field 'resnet_time_scale_shift' is not supported");
  flip_sin_to_cos_ = cfg.get_or<bool>("flip_sin_to_cos", true);
  freq_shift_ = cfg.get_or<double>("freq_shift", 0);
  time_proj_dim_ = boc[0];
  const int64_t temb = boc[0] * 4;

  conv_in = register_module("conv_in", Conv2d(cfg.get_or<int64_t>("in_channels", 4), boc[0], 3, 1, 1));
  auto time_embedding = register_module("time_embedding", std::make_shared<torch::nn::Module>());
  time_linear_1 = time_embedding->register_module("linear_1", Linear(time_proj_dim_, temb));
  time_linear_2 = time_embedding->register_module("linear_2", Linear(temb, temb));
  if (cfg.has("addition_embed_type")) {
    const auto type = cfg.get<std::string>("addition_embed_type");
    if (type == "text_time") {
      text_time_ = true;
      add_time_dim_ = cfg.get<int64_t>("addition_time_embed_dim");
      auto add = register_module("add_embedding", std::make_shared<torch::nn::Module>());
      add_linear_1 = add->register_module("linear_1", Linear(cfg.get<int64_t>("projection_class_embeddings_input_dim"), temb));
      add_linear_2 = add->register_module("linear_2", Linear(temb, temb));
    } else if (type == "text") {
      if (cfg.has("encoder_hid_dim")) fail(src, ": field 'encoder_hid_dim' is not supported");
      text_pool_ = register_module("add_embedding", TextTimeEmbedding(cfg.get<int64_t>("cross_attention_dim"), temb,
                                                                      cfg.get_or<int64_t>("addition_embed_type_num_heads", 64)));
    } else {
      fail(src, ": field 'addition_embed_type' value '", type, "' is not supported (text_time or text)");
    }
  }

  auto down_list = register_module("down_blocks", torch::nn::ModuleList());
  int64_t out_ch = boc[0];
  for (size_t i = 0; i < n; ++i) {
    const int64_t in_ch = out_ch;
    out_ch = boc[i];
    const bool cross_attn = down_types[i] == "CrossAttnDownBlock2D";
    if (!cross_attn && down_types[i] != "DownBlock2D")
      fail(src, ": field 'down_block_types' has unsupported block type '", down_types[i], "'");
    auto holder = std::make_shared<torch::nn::Module>();
    auto resnets = holder->register_module("resnets", torch::nn::ModuleList());
    torch::nn::ModuleList attns{nullptr};
    if (cross_attn) attns = holder->register_module("attentions", torch::nn::ModuleList());
    Block b;
    for (int64_t j = 0; j < layers; ++j) {
      b.resnets.push_back(ResnetBlock2D(j == 0 ? in_ch : out_ch, out_ch, temb, groups, eps));
      resnets->push_back(b.resnets.back());
      if (cross_attn) {
        b.attentions.push_back(Transformer2D(out_ch, heads[i], depth[i], cross, groups, linear_proj, upcast));
        attns->push_back(b.attentions.back());
      }
    }
    if (i + 1 < n) {
      b.down = Downsample2D(out_ch, cfg.get_or<int64_t>("downsample_padding", 1));
      holder->register_module("downsamplers", torch::nn::ModuleList(b.down));
    }
    down_list->push_back(holder);
    down_.push_back(std::move(b));
  }

  auto mid = register_module("mid_block", std::make_shared<torch::nn::Module>());
  mid_resnet_0 = ResnetBlock2D(boc.back(), boc.back(), temb, groups, eps);
  mid_resnet_1 = ResnetBlock2D(boc.back(), boc.back(), temb, groups, eps);
  mid_attention = Transformer2D(boc.back(), heads.back(), depth.back(), cross, groups, linear_proj, upcast);
  mid->register_module("resnets", torch::nn::ModuleList(mid_resnet_0, mid_resnet_1));
  mid->register_module("attentions", torch::nn::ModuleList(mid_attention));

  auto up_list = register_module("up_blocks", torch::nn::ModuleList());
  int64_t prev_out = boc.back();
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // up blocks walk the levels in reverse
    const int64_t out = boc[r];
    const int64_t in = boc[i + 1 < n ? r - 1 : 0];
    const bool cross_attn = up_types[i] == "CrossAttnUpBlock2D";
    if (!cross_attn && up_types[i] != "UpBlock2D")
      fail(src, ": field 'up_block_types' has unsupported block type '", up_types[i], "'");
    auto holder = std::make_shared<torch::nn::Module>();
    auto resnets = holder->register_module("resnets", torch::nn::ModuleList());
    torch::nn::ModuleList attns{nullptr};
    if (cross_attn) attns = holder->register_module("attentions", torch::nn::ModuleList());
    Block b;
    for (int64_t j = 0; j <= layers; ++j) {
      const int64_t skip = j == layers ? in : out;
      const int64_t res_in = j == 0 ? prev_out : out;
      b.resnets.push_back(ResnetBlock2D(res_in + skip, out, temb, groups, eps));
      resnets->push_back(b.resnets.back());
      if (cross_attn) {
        b.attentions.push_back(Transformer2D(out, heads[r], depth[r], cross, groups, linear_proj, upcast));
        attns->push_back(b.attentions.back());
      }
    }
    if (i + 1 < n) {
      b.up = Upsample2D(out);
      holder->register_module("upsamplers", torch::nn::ModuleList(b.up));
    }
    prev_out = out;
    up_list->push_back(holder);
    up_.push_back(std::move(b));
  }
  conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, boc[0], eps));
  conv_out = register_module("conv_out", Conv2d(boc[0], cfg.get_or<int64_t>("out_channels", 4), 3, 1, 1));
}

void UNet2DConditionModelImpl::set_gradient_checkpointing(bool on) {
  checkpointing_ = on;
  for (auto* blocks : {&down_, &up_})
    for (auto& b : *blocks)
      for (auto& a : b.attentions) a->set_gradient_checkpointing(on);
  mid_attention->set_gradient_checkpointing(on);
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& context, const torch::Tensor& text_embeds,
                                                const torch::Tensor& time_ids) {
  const auto B = sample.size(0);
  auto t = timestep.dim() == 0 ? timestep.reshape({1}) : timestep;
  t = t.to(sample.device()).expand({B});
  auto emb = timestep_embedding(t, time_proj_dim_, flip_sin_to_cos_, freq_shift_).to(sample.scalar_type());
  emb = time_linear_2(torch::silu(time_linear_1(emb)));
  if (text_time_) {
    if (!text_embeds.defined() || !time_ids.defined())
      fail("unet: this SDXL UNet needs text_embeds and time_ids (addition_embed_type text_time)");
    auto time_emb = timestep_embedding(time_ids.flatten(), add_time_dim_, flip_sin_to_cos_, freq_shift_)
                        .reshape({B, -1});
    auto add = torch::cat({text_embeds, time_emb.to(text_embeds.scalar_type())}, -1).to(emb.scalar_type());
    emb = emb + add_linear_2(torch::silu(add_linear_1(add)));
  }
  if (!text_pool_.is_empty()) emb = emb + text_pool_(context).to(emb.scalar_type());

  const bool checkpoint = checkpointing_now(checkpointing_);
  auto resnet = [&](ResnetBlock2D& block, const torch::Tensor& x) {
    if (!checkpoint) return block(x, emb);
    return checkpointed([block](const std::vector<torch::Tensor>& in) mutable { return block->forward(in[0], in[1]); },
                        {x, emb});
  };
  auto h = conv_in(sample);
  std::vector<torch::Tensor> skips{h};
  for (auto& b : down_) {
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      h = resnet(b.resnets[j], h);
      if (!b.attentions.empty()) h = b.attentions[j](h, context);
      skips.push_back(h);
    }
    if (!b.down.is_empty()) {
      h = b.down(h);
      skips.push_back(h);
    }
  }
  h = resnet(mid_resnet_0, h);
  h = mid_attention(h, context);
  h = resnet(mid_resnet_1, h);
  for (auto& b : up_) {
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      h = resnet(b.resnets[j], torch::cat({h, skips.back()}, 1));
      skips.pop_back();
      if (!b.attentions.empty()) h = b.attentions[j](h, context);
    }
    // Upsample to the size of the skip it will meet, so odd latent sizes work.
    if (!b.up.is_empty()) h = b.up(h, std::vector<int64_t>{skips.back().size(2), skips.back().size(3)});
  }
  return conv_out(norm_silu(conv_norm_out, h));
}

}  // namespace prtkl
