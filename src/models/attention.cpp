#include "models/attention.h"

#include <atomic>
#include <cmath>

#include "core/torch_compat.h"
#include "models/fused_attention_cpu.h"

namespace prtkl {

namespace {
std::atomic<int64_t> g_chunk_bytes{256ll << 20};
std::atomic<bool> g_allow_fused{true};
}

void set_fused_attention_allowed(bool allowed) { g_allow_fused = allowed; }

void set_attention_chunk_bytes(int64_t bytes) { g_chunk_bytes = std::max<int64_t>(bytes, 1); }
int64_t attention_chunk_bytes() { return g_chunk_bytes; }

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        bool upcast) {
  if (g_allow_fused && fused_attention_preferred(q, k, v, heads)) return fused_attention_cpu(q, k, v, heads);
  const auto B = q.size(0), Tq = q.size(1), Tk = k.size(1), C = q.size(2), d = C / heads;
  auto split = [&](const torch::Tensor& t) { return t.view({B, t.size(1), heads, d}).transpose(1, 2); };
  auto qh = split(q), kh = split(k), vh = split(v);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
#if PRTKL_HAS_SDPA
  if (!upcast && q.is_cuda()) {
    auto out = at::scaled_dot_product_attention(qh, kh, vh);
    return out.transpose(1, 2).reshape({B, Tq, C});
  }
#endif
  auto kt = kh.transpose(-1, -2);
  const auto compute_dtype = upcast ? torch::kFloat32 : q.scalar_type();
  const int64_t row_bytes = B * heads * Tk * static_cast<int64_t>(c10::elementSize(compute_dtype));
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(Tq, attention_chunk_bytes() / std::max<int64_t>(row_bytes, 1)));
  auto one = [&](const torch::Tensor& qc) {
    auto s = torch::matmul(upcast ? qc.to(torch::kFloat32) : qc, upcast ? kt.to(torch::kFloat32) : kt);
    s.mul_(scale);
    auto p = torch::softmax(s, -1).to(v.scalar_type());
    return torch::matmul(p, vh);
  };
  torch::Tensor out;
  if (chunk >= Tq) {
    out = one(qh);
  } else {
    out = torch::empty({B, heads, Tq, d}, q.options());
    for (int64_t s = 0; s < Tq; s += chunk) {
      const auto e = std::min(Tq, s + chunk);
      out.slice(2, s, e).copy_(one(qh.slice(2, s, e)));
    }
  }
  return out.transpose(1, 2).reshape({B, Tq, C});
}

}  // namespace prtkl
