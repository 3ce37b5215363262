#include "models/lora_linear.h"

#include <cmath>

namespace prtkl {

LoraLinearImpl::LoraLinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", empty_parameter({out, in}));
  if (with_bias) bias = register_parameter("bias", empty_parameter({out}));
  if (!init_skipped()) init_like_linear(weight, bias);
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(x, weight, bias);
  if (!has_lora()) return y;
  auto h = dropout_ > 0 ? torch::nn::functional::dropout(x, torch::nn::functional::DropoutFuncOptions().p(dropout_).training(is_training())) : x;
  return y + lora_B(lora_A(h.to(lora_A->weight.scalar_type()))).to(y.scalar_type()) * lora_scale;
}

void LoraLinearImpl::add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen) {
  remove_lora();
  const auto in = weight.size(1), out = weight.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(weight.device());
  lora_A = register_module("lora_A", Linear(in, rank, false));
  lora_B = register_module("lora_B", Linear(rank, out, false));
  lora_A->to(opts.device());
  lora_B->to(opts.device());
  torch::NoGradGuard no_grad;
  lora_A->weight.copy_(torch::randn({rank, in}, gen, torch::kFloat32) / static_cast<double>(rank));
  lora_B->weight.zero_();
  lora_scale = alpha / static_cast<double>(rank);
  dropout_ = dropout;
}

void LoraLinearImpl::remove_lora() {
  if (!has_lora()) return;
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_A = nullptr;
  lora_B = nullptr;
  lora_scale = 0.0;
}

}  // namespace prtkl
