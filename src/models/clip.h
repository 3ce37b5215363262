// CLIPTextModel and CLIPTextModelWithProjection (transformers), sized from config.json. Parameter names are
// the transformers checkpoint keys (text_model.encoder.layers.N.self_attn.q_proj.weight, text_projection.weight).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/json_config.h"
#include "models/layers.h"

namespace prtkl {

struct ClipTextOutput {
  torch::Tensor last_hidden_state;           // after final_layer_norm
  std::vector<torch::Tensor> hidden_states;  // [0] embeddings … [num_layers] layer outputs (before the final norm)
  torch::Tensor pooled;                      // final-normed state at the pooling position
  torch::Tensor text_embeds;                 // text_projection(pooled); only with a projection
};

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(int64_t hidden, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(int64_t hidden, int64_t intermediate, std::string act);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};

 private:
  std::string act_;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(int64_t hidden, int64_t heads, int64_t intermediate, const std::string& act, double eps);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);
  ClipAttention self_attn{nullptr};
  LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

class ClipTextModelImpl : public torch::nn::Module {
 public:
  // The projection exists iff config.architectures names CLIPTextModelWithProjection.
  explicit ClipTextModelImpl(const Config& config);
  ClipTextOutput forward(const torch::Tensor& input_ids);  // [B, T] int64; causal mask only, as SD pipelines use it

  const Config& config() const { return config_; }
  int64_t hidden_size() const { return hidden_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t max_positions() const { return position_embedding_->weight.size(0); }  // the longest prompt window
  bool has_projection() const { return !text_projection.is_empty(); }
  Embedding& token_embedding() { return token_embedding_; }
  // Pivotal tuning: the last rows.size(0) rows of the embedding table are read from `rows` (a trainable leaf)
  // instead, so only the new tokens' rows are parameters of the optimizer. An undefined tensor switches back.
  void set_token_rows(const torch::Tensor& rows);
  // Training: each encoder layer recomputes its activations in the backward pass.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }

  Linear text_projection{nullptr};

 private:
  Config config_;
  int64_t hidden_ = 0, eos_token_id_ = 2;
  bool checkpointing_ = false;
  Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  std::vector<ClipEncoderLayer> layers_;
  torch::Tensor token_rows_;
  LayerNorm final_layer_norm_{nullptr};
};
TORCH_MODULE(ClipTextModel);

}  // namespace prtkl
