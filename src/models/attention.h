// The one attention function every model uses. Inference on CPUs that can goes to the fused kernel
// (fused_attention_cpu.h); everything else (CUDA, half precision, training) computes scores in query chunks sized
// from a memory budget, so the [batch·heads, Tq, Tk] matrix is never materialised whole.
#pragma once
#include <torch/torch.h>

namespace prtkl {

// q: [B, Tq, heads·d], k, v: [B, Tk, heads·d] -> [B, Tq, heads·d]. upcast: scores and softmax in float32.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        bool upcast = false);

// Bytes one chunk of scores may take (default 256 MiB); tests lower it to force chunking.
void set_attention_chunk_bytes(int64_t bytes);
int64_t attention_chunk_bytes();
// Whether attention() may take the fused CPU kernel (default true); tests turn it off to check the chunked path.
void set_fused_attention_allowed(bool allowed);

}  // namespace prtkl
