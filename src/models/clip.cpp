#include "models/clip.h"

#include <limits>

#include "core/error.h"
#include "models/activation_checkpoint.h"

namespace prtkl {

ClipAttentionImpl::ClipAttentionImpl(int64_t hidden, int64_t heads) : heads_(heads) {
  q_proj = register_module("q_proj", Linear(hidden, hidden, true));
  k_proj = register_module("k_proj", Linear(hidden, hidden, true));
  v_proj = register_module("v_proj", Linear(hidden, hidden, true));
  out_proj = register_module("out_proj", Linear(hidden, hidden, true));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  const auto B = x.size(0), T = x.size(1), C = x.size(2), d = C / heads_;
  auto split = [&](const torch::Tensor& t) { return t.view({B, T, heads_, d}).transpose(1, 2); };
  // transformers scales q before the product.
  auto q = split(q_proj(x) * (1.0 / std::sqrt(static_cast<double>(d))));
  auto k = split(k_proj(x));
  auto v = split(v_proj(x));
  auto w = torch::matmul(q, k.transpose(-1, -2)) + causal_mask;
  auto out = torch::matmul(torch::softmax(w, -1), v);
  return out_proj(out.transpose(1, 2).reshape({B, T, C}));
}

ClipMlpImpl::ClipMlpImpl(int64_t hidden, int64_t intermediate, std::string act) : act_(std::move(act)) {
  fc1 = register_module("fc1", Linear(hidden, intermediate));
  fc2 = register_module("fc2", Linear(intermediate, hidden));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  auto h = fc1(x);
  h = act_ == "quick_gelu" ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(int64_t hidden, int64_t heads, int64_t intermediate, const std::string& act,
                                           double eps) {
  self_attn = register_module("self_attn", ClipAttention(hidden, heads));
  layer_norm1 = register_module("layer_norm1", LayerNorm(hidden, eps));
  mlp = register_module("mlp", ClipMlp(hidden, intermediate, act));
  layer_norm2 = register_module("layer_norm2", LayerNorm(hidden, eps));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  auto h = x + self_attn(layer_norm1(x), causal_mask);
  return h + mlp(layer_norm2(h));
}

ClipTextModelImpl::ClipTextModelImpl(const Config& config) : config_(config) {
  hidden_ = config.get<int64_t>("hidden_size");
  const auto layers = config.get<int64_t>("num_hidden_layers");
  const auto heads = config.get<int64_t>("num_attention_heads");
  const auto intermediate = config.get<int64_t>("intermediate_size");
  const auto vocab = config.get<int64_t>("vocab_size");
  const auto positions = config.get_or<int64_t>("max_position_embeddings", 77);
  const auto act = config.get_or<std::string>("hidden_act", "quick_gelu");
  const auto eps = config.get_or<double>("layer_norm_eps", 1e-5);
  eos_token_id_ = config.get_or<int64_t>("eos_token_id", 2);
  if (hidden_ % heads != 0) fail(config.source(), ": hidden_size ", hidden_, " is not divisible by num_attention_heads ", heads);
  if (act != "quick_gelu" && act != "gelu") fail(config.source(), ": field 'hidden_act' value '", act, "' is not supported");

  auto text_model = register_module("text_model", std::make_shared<torch::nn::Module>());
  auto embeddings = text_model->register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding_ = embeddings->register_module("token_embedding", Embedding(vocab, hidden_));
  position_embedding_ = embeddings->register_module("position_embedding", Embedding(positions, hidden_));
  auto encoder = text_model->register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    layers_.push_back(ClipEncoderLayer(hidden_, heads, intermediate, act, eps));
    list->push_back(layers_.back());
  }
  final_layer_norm_ = text_model->register_module(
      "final_layer_norm", LayerNorm(hidden_, eps));
  bool projection = false;
  if (config.has("architectures"))
    for (const auto& a : config.get<std::vector<std::string>>("architectures"))
      projection |= a == "CLIPTextModelWithProjection";
  if (projection) {
    const auto dim = config.get<int64_t>("projection_dim");
    text_projection = register_module("text_projection", Linear(hidden_, dim, false));
  }
}

ClipTextOutput ClipTextModelImpl::forward(const torch::Tensor& input_ids) {
  const auto T = input_ids.size(1);
  if (T > max_positions()) fail("text encoder: ", T, " tokens exceed max_position_embeddings ", max_positions());
  auto positions = torch::arange(T, input_ids.options().dtype(torch::kInt64));
  torch::Tensor tokens;
  if (token_rows_.defined()) {  // pivotal tuning: the last rows of the table come from the trainable tensor
    const auto table = token_embedding_->weight;
    const auto base = table.narrow(0, 0, table.size(0) - token_rows_.size(0));
    tokens = torch::embedding(torch::cat({base, token_rows_.to(table.dtype())}), input_ids);
  } else {
    tokens = token_embedding_(input_ids);
  }
  auto x = tokens + position_embedding_(positions).unsqueeze(0);
  auto mask = torch::full({T, T}, -std::numeric_limits<float>::infinity(), x.options()).triu(1);
  ClipTextOutput out;
  out.hidden_states.push_back(x);
  const bool checkpoint = checkpointing_now(checkpointing_);
  for (auto& layer : layers_) {
    x = checkpoint ? checkpointed(
                         [layer](const std::vector<torch::Tensor>& in) mutable { return layer->forward(in[0], in[1]); },
                         {x, mask})
                   : layer(x, mask);
    out.hidden_states.push_back(x);
  }
  out.last_hidden_state = final_layer_norm_(x);
  // transformers' legacy rule for configs with eos_token_id == 2 (SD 1.5 and SDXL): the eos token has the
  // highest id, so pool at argmax(input_ids); otherwise at the first eos.
  torch::Tensor idx = eos_token_id_ == 2 ? input_ids.to(torch::kInt64).argmax(-1)
                                         : (input_ids == eos_token_id_).to(torch::kInt32).argmax(-1);
  out.pooled = out.last_hidden_state.index({torch::arange(input_ids.size(0), idx.options()), idx});
  if (has_projection()) out.text_embeds = text_projection(out.pooled);
  return out;
}

void ClipTextModelImpl::set_token_rows(const torch::Tensor& rows) {
  if (rows.defined() && (rows.dim() != 2 || rows.size(1) != hidden_ || rows.size(0) > token_embedding_->weight.size(0)))
    fail("text encoder: token rows of shape ", rows.sizes(), " do not fit an embedding table of ",
         token_embedding_->weight.sizes());
  token_rows_ = rows;
}

}  // namespace prtkl
