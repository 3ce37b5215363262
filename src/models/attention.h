// The one attention function every model uses. Scores are computed in query chunks sized from a memory budget,
// so the [batch·heads, Tq, Tk] matrix is never materialised whole (SDXL at 1024² has 16k tokens per query).
#pragma once
#include <torch/torch.h>

namespace prtkl {

// q: [B, Tq, heads·d], k, v: [B, Tk, heads·d] -> [B, Tq, heads·d]. upcast: scores and softmax in float32.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        bool upcast = false);

// Bytes one chunk of scores may take (default 256 MiB); tests lower it to force chunking.
void set_attention_chunk_bytes(int64_t bytes);
int64_t attention_chunk_bytes();

}  // namespace prtkl
