#include "models/layers.h"

#include <cmath>

#include "models/norms_bf16_cpu.h"

namespace prtkl {

namespace {
thread_local std::optional<torch::TensorOptions> skip_init_options;
}  // namespace

SkipInit::SkipInit(torch::TensorOptions options) : previous_(skip_init_options) { skip_init_options = options; }
SkipInit::~SkipInit() { skip_init_options = previous_; }

bool init_skipped() { return skip_init_options.has_value(); }

torch::Tensor empty_parameter(c10::IntArrayRef shape) {
  return skip_init_options ? torch::empty(shape, *skip_init_options) : torch::empty(shape);
}

void init_like_linear(torch::Tensor& weight, torch::Tensor& bias) {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (!bias.defined()) return;
  const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  torch::nn::init::uniform_(bias, -bound, bound);
}

namespace {
// GroupNorm's and LayerNorm's affine parameters: weight 1, bias 0.
void affine_parameters(torch::nn::Module& m, int64_t n, torch::Tensor& weight, torch::Tensor& bias) {
  weight = m.register_parameter("weight", empty_parameter({n}));
  bias = m.register_parameter("bias", empty_parameter({n}));
  if (init_skipped()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
}
}  // namespace

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", empty_parameter({out, in}));
  if (with_bias) bias = register_parameter("bias", empty_parameter({out}));
  if (!init_skipped()) init_like_linear(weight, bias);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (!lora.active()) return y;
  const auto h = torch::linear(torch::linear(lora.input(x, is_training()), lora.down), lora.up);
  return y + h.to(y.scalar_type()) * lora.scale;
}

void LinearImpl::add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen) {
  lora.add(*this, {rank, weight.size(1)}, {weight.size(0), rank}, alpha, dropout, gen, weight.device());
}

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", empty_parameter({out, in, kernel, kernel}));
  bias = register_parameter("bias", empty_parameter({out}));
  if (!init_skipped()) init_like_linear(weight, bias);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  auto y = torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
  if (!lora.active()) return y;
  const auto h = torch::conv2d(torch::conv2d(lora.input(x, is_training()), lora.down, {}, {stride, stride},
                                             {padding, padding}),
                               lora.up);
  return y + h.to(y.scalar_type()) * lora.scale;
}

void Conv2dImpl::add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen) {
  lora.add(*this, {rank, weight.size(1), weight.size(2), weight.size(3)}, {weight.size(0), rank, 1, 1}, alpha, dropout,
           gen, weight.device());
}

GroupNormImpl::GroupNormImpl(int64_t groups_, int64_t channels, double eps_) : groups(groups_), eps(eps_) {
  affine_parameters(*this, channels, weight, bias);
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& x) { return torch::group_norm(x, groups, weight, bias, eps); }

LayerNormImpl::LayerNormImpl(int64_t dim, double eps_) : eps(eps_) { affine_parameters(*this, dim, weight, bias); }

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  if (layer_norm_applies(x, weight, bias)) return layer_norm_cpu(x, weight, bias, eps);
  return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim) {
  weight = register_parameter("weight", empty_parameter({count, dim}));
  if (init_skipped()) return;
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(weight);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

}  // namespace prtkl
