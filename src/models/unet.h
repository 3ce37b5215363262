// UNet2DConditionModel for SD 1.x and SDXL, assembled from config.json like diffusers does it: block types by
// name, per-block heads and transformer depth, SDXL's text_time added conditioning, and the attention-pooled
// caption added to the time embedding (addition_embed_type "text").
#pragma once
#include <torch/torch.h>

#include "core/json_config.h"
#include "models/unet_blocks.h"

namespace prtkl {

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(const Config& config);
  // sample [B,C,h,w]; timestep 0-dim or [B]; encoder_hidden_states [B,T,cross_dim];
  // SDXL: text_embeds [B,P] and time_ids [B,6] (undefined otherwise).
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& encoder_hidden_states, const torch::Tensor& text_embeds = {},
                        const torch::Tensor& time_ids = {});
  const Config& config() const { return config_; }
  // Training: each resnet and each transformer block recomputes its activations in the backward pass.
  void set_gradient_checkpointing(bool on);

 private:
  struct Block {  // one down or up block: resnets[i] paired with attentions[i] when it has them
    std::vector<ResnetBlock2D> resnets;
    std::vector<Transformer2D> attentions;
    Downsample2D down{nullptr};
    Upsample2D up{nullptr};
  };
  Config config_;
  bool text_time_ = false, checkpointing_ = false;
  int64_t time_proj_dim_ = 0, add_time_dim_ = 0;
  bool flip_sin_to_cos_ = true;
  double freq_shift_ = 0;
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  Linear time_linear_1{nullptr}, time_linear_2{nullptr}, add_linear_1{nullptr}, add_linear_2{nullptr};
  TextTimeEmbedding text_pool_{nullptr};  // addition_embed_type "text"
  std::vector<Block> down_, up_;
  ResnetBlock2D mid_resnet_0{nullptr}, mid_resnet_1{nullptr};
  Transformer2D mid_attention{nullptr};
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(UNet2DConditionModel);

// diffusers' get_timestep_embedding: sinusoidal features of `t` ([N], any dtype), computed in float32.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos, double freq_shift);

}  // namespace prtkl
