// The building blocks shared by the UNet and the VAE, named as in diffusers (resnets, attentions,
// transformer_blocks, attn1/attn2, ff.net, downsamplers, upsamplers) so parameter names are checkpoint keys.
#pragma once
#include <torch/torch.h>

#include "models/layers.h"

namespace prtkl {

// GroupNorm in the weight's dtype: under autocast (bf16 training) activations arrive in bf16, and libtorch
// 1.13's CPU group_norm requires input and weight of one dtype (CUDA autocast runs it in fp32 too).
torch::Tensor apply_norm(GroupNorm& norm, const torch::Tensor& x);
torch::Tensor apply_norm(LayerNorm& norm, const torch::Tensor& x);
// silu(apply_norm(norm, x)), as one fused kernel where norms_bf16_cpu.h applies.
torch::Tensor norm_silu(GroupNorm& norm, const torch::Tensor& x);

// ResnetBlock2D: GroupNorm -> SiLU -> conv, plus the time embedding (UNet) or none (VAE), with a 1x1 shortcut
// when the channel count changes.
class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  ResnetBlock2DImpl(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double eps);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  Linear time_emb_proj{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

// Downsample2D: stride-2 3x3 conv. The VAE uses padding 0 with an asymmetric (0,1,0,1) pad, the UNet padding 1.
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int64_t channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);
  Conv2d conv{nullptr};

 private:
  int64_t padding_;
};
TORCH_MODULE(Downsample2D);

// Upsample2D: nearest ×2 (or to an explicit size) then a 3x3 conv.
class Upsample2DImpl : public torch::nn::Module {
 public:
  explicit Upsample2DImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> size = c10::nullopt);
  Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

// diffusers' Attention: to_q/to_k/to_v and to_out.0; `context_dim` 0 means self-attention. The VAE variant has
// biases on q/k/v, a group norm and a residual, and works on [B, C, H, W].
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim, bool qkv_bias, bool upcast);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});
  // LoRA-capable: these four are what diffusers' LoRA scripts target.
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [Linear, Dropout]

 private:
  int64_t heads_;
  bool upcast_;
  Linear out_{nullptr};
};
TORCH_MODULE(Attention);

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim, bool upcast);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  Linear geglu_proj_{nullptr}, ff_out_{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// Transformer2DModel (continuous input): GroupNorm, proj_in (1x1 conv or linear), transformer blocks, proj_out,
// residual.
class Transformer2DImpl : public torch::nn::Module {
 public:
  Transformer2DImpl(int64_t channels, int64_t heads, int64_t layers, int64_t context_dim, int64_t groups,
                    bool linear_projection, bool upcast);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }  // per transformer block

 private:
  bool linear_, checkpointing_ = false;
  GroupNorm norm{nullptr};
  torch::nn::AnyModule proj_in, proj_out;
  std::vector<BasicTransformerBlock> blocks_;
};
TORCH_MODULE(Transformer2D);

// The VAE's single-head spatial self-attention: group_norm, q/k/v with bias over H·W tokens, residual.
class SpatialSelfAttentionImpl : public torch::nn::Module {
 public:
  SpatialSelfAttentionImpl(int64_t channels, int64_t groups, double eps);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  GroupNorm group_norm{nullptr};
  Attention attn_{nullptr};
};
TORCH_MODULE(SpatialSelfAttention);

// diffusers' TextTimeEmbedding (addition_embed_type "text"): the text encoder's hidden states attention-pooled
// into one vector (a query from their mean, keys and values over the mean and every token), projected to the time
// embedding's width and added to it, so the caption reaches every resnet, not only the cross-attention layers.
class TextTimeEmbeddingImpl : public torch::nn::Module {
 public:
  TextTimeEmbeddingImpl(int64_t encoder_dim, int64_t time_embed_dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& hidden_states);  // [B, T, encoder_dim] -> [B, time_embed_dim]
  LayerNorm norm1{nullptr}, norm2{nullptr};
  Linear proj{nullptr};

 private:
  torch::Tensor positional_embedding_;  // pool.positional_embedding [1, encoder_dim]
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr};
  int64_t heads_;
};
TORCH_MODULE(TextTimeEmbedding);

}  // namespace prtkl
