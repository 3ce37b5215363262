// The plain layers the models are built from: torch::nn's Linear, Conv2d, GroupNorm, LayerNorm and Embedding with
// the same parameter names, forward and default initialisation (bit for bit: the same init calls in the same order),
// except inside a SkipInit scope. There a layer creates its parameters uninitialised, directly in the scope's dtype
// and device: a model built to be loaded skips seconds of random numbers over every weight and the fp32 copy that a
// later cast would throw away, and its untouched pages cost no memory until the load writes them (what diffusers'
// low_cpu_mem_usage and PyTorch's skip_init / meta-device loading do).
#pragma once
#include <torch/torch.h>

#include <optional>

#include "models/lora_branch.h"

namespace prtkl {

// While one lives (on this thread), layers and other parameters built through empty_parameter() are left
// uninitialised, with `options`' dtype and device. Only for modules whose every parameter is then overwritten.
class SkipInit {
 public:
  explicit SkipInit(torch::TensorOptions options);
  ~SkipInit();
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;

 private:
  std::optional<torch::TensorOptions> previous_;
};

bool init_skipped();

// A new parameter tensor: in a SkipInit scope uninitialised with its options, else fp32 on the CPU for the caller to
// initialise (check init_skipped()).
torch::Tensor empty_parameter(c10::IntArrayRef shape);

// torch.nn.Linear's and Conv's default: kaiming_uniform_(a = √5) for the weight, U(±1/√fan_in) for the bias.
void init_like_linear(torch::Tensor& weight, torch::Tensor& bias);

// Linear and Conv2d can carry a trainable LoRA (models/lora_branch.h): add_lora puts one on, prtkl train does it on
// the layers its targets name.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  void add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen);
  torch::Tensor weight, bias;
  LoraBranch lora;
};
TORCH_MODULE(Linear);

class Conv2dImpl : public torch::nn::Module {
 public:
  Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  torch::Tensor forward(const torch::Tensor& x);
  void add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen);
  torch::Tensor weight, bias;
  int64_t stride, padding;
  LoraBranch lora;
};
TORCH_MODULE(Conv2d);

class GroupNormImpl : public torch::nn::Module {
 public:
  GroupNormImpl(int64_t groups, int64_t channels, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  int64_t groups;
  double eps;
};
TORCH_MODULE(GroupNorm);

class LayerNormImpl : public torch::nn::Module {
 public:
  explicit LayerNormImpl(int64_t dim, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

}  // namespace prtkl
