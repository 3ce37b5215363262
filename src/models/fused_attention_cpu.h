// Fused attention for float32 and bfloat16 inference on x86 CPUs with AVX2/FMA or AVX-512 (one kernel,
// fused_attention_kernel.inc, for both widths). Query blocks × key blocks with an online softmax (the
// flash-attention recurrence), so scores never leave the L1/L2 caches. The unfused path writes, rescales,
// softmaxes and re-reads a [batch·heads, Tq, Tk] matrix through main memory: at SD 1.5's 64² latent that is
// 1 GiB per layer and most of the UNet's attention time (BENCHMARKS.md).
#pragma once
#include <torch/torch.h>

#include <optional>
#include <vector>

namespace prtkl {

// True when fused_attention_cpu can take these inputs: CPU tensors of one dtype, float32 or bfloat16, on a CPU
// with AVX2 and FMA; head size a multiple of 8, last dimension contiguous, no gradient wanted.
bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads);

// Whether attention() should take the kernel: where it applies, except bfloat16 heads of 256 and wider on a CPU
// with AMX, where oneDNN's matmuls on the tiles beat it (BENCHMARKS.md: the VAE's 512-wide head, 0.20 against
// 0.56 s; at 128 wide the kernel still wins, 0.47 against 0.53 s).
bool fused_attention_preferred(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads);

// The instruction sets the kernel is built for.
enum class AttentionKernel { avx2, avx512 };
// Those this CPU can run, narrowest first (empty where fused attention never applies).
std::vector<AttentionKernel> available_attention_kernels();

// q: [B, Tq, heads·d], k, v: [B, Tk, heads·d] -> [B, Tq, heads·d] = softmax(q kᵀ / √d) v per head, in float32
// (the inputs' dtype out), on the widest kernel this CPU has or on `kernel` (tests and benchmarks compare them).
torch::Tensor fused_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                                  std::optional<AttentionKernel> kernel = std::nullopt);

}  // namespace prtkl
