// The norms of bfloat16 inference on CPUs with AVX512-BF16, in float32 inside and rounded once on the way out.
// ATen 1.13's bfloat16 group and layer norms on CPU are several times slower than its float32 ones, and SiLU is a
// separate pass over the activation with its own rounding (BENCHMARKS.md: group norm and SiLU took 3.2 s of a
// 10.4 s bfloat16 VAE decode, layer norms 0.5 s of a UNet call).
// - silu(group_norm(x)) in one kernel: every ResNet block of the UNet and the VAE runs the pair twice.
// - layer_norm(x) over the last dimension: three per transformer block.
#pragma once
#include <torch/torch.h>

namespace prtkl {

// True when group_norm_silu_cpu can take these inputs: CPU bfloat16 x [N, C, ...] contiguous or [N, C, H, W]
// channels last (oneDNN's bfloat16 convolutions hand the VAE's activations on that way), weight and bias
// bfloat16 [C], C divisible by groups, no gradient wanted, and a CPU with AVX512-BF16.
bool group_norm_silu_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t groups);

// silu((x - mean) / √(var + eps) · weight + bias) per group of C / groups channels, as torch::group_norm then
// torch::silu compute it; bfloat16 out, in x's layout.
torch::Tensor group_norm_silu_cpu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                  int64_t groups, double eps);

// True when layer_norm_cpu can take these inputs: CPU bfloat16 x [..., C] (any layout), weight and bias bfloat16
// [C] contiguous, no gradient wanted, and a CPU with AVX512-BF16.
bool layer_norm_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// (x - mean) / √(var + eps) · weight + bias over each row of C values, as torch::layer_norm computes it;
// contiguous out.
torch::Tensor layer_norm_cpu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             double eps);

}  // namespace prtkl
