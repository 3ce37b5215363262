// A Linear layer that can carry a trainable LoRA: y = W x + b + (alpha / r) · B(A(dropout(x))). Its own parameters
// keep the plain Linear names (`weight`, `bias`) and the adapter uses PEFT's (`lora_A.weight`, `lora_B.weight`), so
// checkpoints load unchanged and a trained adapter saves under the keys diffusers writes.
#pragma once
#include <torch/torch.h>

#include "models/layers.h"

namespace prtkl {

class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  // PEFT's "gaussian" init: A ~ N(0, 1/r), B = 0, so the adapter starts as a no-op.
  void add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen);
  void remove_lora();
  bool has_lora() const { return !lora_A.is_empty(); }

  torch::Tensor weight, bias;
  Linear lora_A{nullptr}, lora_B{nullptr};
  double lora_scale = 0.0;  // alpha / rank

 private:
  double dropout_ = 0.0;
};
TORCH_MODULE(LoraLinear);

}  // namespace prtkl
