// Fused attention for float32 inference on x86 CPUs with AVX2/FMA: query blocks × key blocks with an online
// softmax (the flash-attention recurrence), so scores never leave the L1/L2 caches. The unfused path writes,
// rescales, softmaxes and re-reads a [batch·heads, Tq, Tk] matrix through main memory: at SD 1.5's 64² latent
// that is 1 GiB per layer and most of the UNet's attention time (BENCHMARKS.md).
#pragma once
#include <torch/torch.h>

namespace prtkl {

// True when fused_attention_cpu can take these inputs: CPU float32, head size a multiple of 8, last dimension
// contiguous, no gradient wanted, and a CPU with AVX2 and FMA.
bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads);

// q: [B, Tq, heads·d], k, v: [B, Tk, heads·d] -> [B, Tq, heads·d] = softmax(q kᵀ / √d) v per head.
torch::Tensor fused_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  int64_t heads);

}  // namespace prtkl
