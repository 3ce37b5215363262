#include "models/fused_attention_cpu.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <limits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PRTKL_FUSED_ATTENTION 1
#else
#define PRTKL_FUSED_ATTENTION 0
#endif

namespace prtkl {

#if PRTKL_FUSED_ATTENTION
namespace {

// Compiled for AVX2/FMA whatever the build flags; only called after the CPU was checked.
#define PRTKL_AVX2 __attribute__((target("avx2,fma")))

constexpr int64_t kTileRows = 6;   // query rows per register tile
constexpr int64_t kPanel = 16;     // keys per packed panel: two 8-float registers
constexpr int64_t kBlockQ = 48;    // query rows per task
constexpr int64_t kBlockK = 128;   // keys per online-softmax step: a 48×128 score block is 24 KiB

struct Problem {
  const float* q;   // [B, Tq, C] rows of stride q_row
  const float* kp;  // keys packed as [B, H, Tkp/16, d, 16]
  const float* v;   // [B, Tk, C] rows of stride v_row
  float* out;       // [B, Tq, C] contiguous
  int64_t B, H, Tq, Tk, Tkp, d;
  int64_t q_batch, q_row, v_batch, v_row;
  float q_scale;  // 1/√d · log2(e): scores come out in base 2, so the softmax needs exp2 only
};

// 2^x for x <= 0 (scores minus their row maximum); exact 0 below -127, NaN stays NaN. Degree-7 Taylor
// polynomial of 2^f on [-0.5, 0.5]: relative error below 1e-8, under float32's epsilon.
PRTKL_AVX2 inline __m256 exp2_nonpositive(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-127.f), x);
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(1.525273380405984e-05f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.5403530393381606e-04f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-03f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618129107628477e-03f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550410866482158e-02f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402265069591007e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931471805599453e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

PRTKL_AVX2 inline float horizontal_max(__m256 x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

PRTKL_AVX2 inline float horizontal_sum(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// The register tiles below name each accumulator: with arrays of __m256, GCC spills them to the stack on every
// iteration (seen in the generated code), which cost two thirds of the kernel's speed.
#define PRTKL_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

// c[6][16] (+)= a[6][k] · b[k][16], rows of a, b and c `a_row`, `b_row`, `c_row` floats apart: q·kᵀ with a
// packed key panel (c starts at zero), and p·v over 16 columns of the values (c accumulates).
template <bool kAccumulate>
PRTKL_AVX2 inline void tile_6x16(const float* a, int64_t a_row, const float* b, int64_t b_row, int64_t k, float* c,
                                 int64_t c_row) {
#define PRTKL_INIT(r)                                                                                  \
  __m256 a##r##0 = kAccumulate ? _mm256_loadu_ps(c + r * c_row) : _mm256_setzero_ps(),                 \
         a##r##1 = kAccumulate ? _mm256_loadu_ps(c + r * c_row + 8) : _mm256_setzero_ps();
  PRTKL_TILE_ROWS(PRTKL_INIT)
#undef PRTKL_INIT
  for (int64_t j = 0; j < k; ++j) {
    const __m256 b0 = _mm256_loadu_ps(b + j * b_row), b1 = _mm256_loadu_ps(b + j * b_row + 8);
#define PRTKL_FMA(r)                                            \
  {                                                             \
    const __m256 ab = _mm256_broadcast_ss(a + r * a_row + j);   \
    a##r##0 = _mm256_fmadd_ps(ab, b0, a##r##0);                 \
    a##r##1 = _mm256_fmadd_ps(ab, b1, a##r##1);                 \
  }
    PRTKL_TILE_ROWS(PRTKL_FMA)
#undef PRTKL_FMA
  }
#define PRTKL_STORE(r)                          \
  _mm256_storeu_ps(c + r * c_row, a##r##0);     \
  _mm256_storeu_ps(c + r * c_row + 8, a##r##1);
  PRTKL_TILE_ROWS(PRTKL_STORE)
#undef PRTKL_STORE
}

// out_tile[6][8] += probs[6][nk] · v[nk][8]: the last columns when d is an odd multiple of 8.
PRTKL_AVX2 inline void value_tile8(const float* probs, const float* v, int64_t v_row, int64_t nk, float* out_tile,
                                   int64_t d) {
#define PRTKL_LOAD(r) __m256 a##r = _mm256_loadu_ps(out_tile + r * d);
  PRTKL_TILE_ROWS(PRTKL_LOAD)
#undef PRTKL_LOAD
  for (int64_t j = 0; j < nk; ++j) {
    const __m256 v0 = _mm256_loadu_ps(v + j * v_row);
#define PRTKL_FMA(r) a##r = _mm256_fmadd_ps(_mm256_broadcast_ss(probs + r * kBlockK + j), v0, a##r);
    PRTKL_TILE_ROWS(PRTKL_FMA)
#undef PRTKL_FMA
  }
#define PRTKL_STORE(r) _mm256_storeu_ps(out_tile + r * d, a##r);
  PRTKL_TILE_ROWS(PRTKL_STORE)
#undef PRTKL_STORE
}
#undef PRTKL_TILE_ROWS

// One task: kBlockQ query rows of one (batch, head) against all keys. Buffers are the calling thread's.
PRTKL_AVX2 void attend_block(const Problem& pb, int64_t task, float* q_block, float* scores, float* acc, float* row_max,
                             float* row_sum) {
  const int64_t blocks_per_head = (pb.Tq + kBlockQ - 1) / kBlockQ;
  const int64_t bh = task / blocks_per_head, b = bh / pb.H, h = bh % pb.H, d = pb.d;
  const int64_t r0 = (task % blocks_per_head) * kBlockQ;
  const int64_t rows = std::min(kBlockQ, pb.Tq - r0);
  const int64_t tiled_rows = (rows + kTileRows - 1) / kTileRows * kTileRows;
  const __m256 q_scale = _mm256_set1_ps(pb.q_scale);
  for (int64_t r = 0; r < tiled_rows; ++r) {
    const float* src = pb.q + b * pb.q_batch + (r0 + r) * pb.q_row + h * d;
    for (int64_t p = 0; p < d; p += 8)
      _mm256_storeu_ps(q_block + r * d + p,
                       r < rows ? _mm256_mul_ps(_mm256_loadu_ps(src + p), q_scale) : _mm256_setzero_ps());
  }
  std::fill(acc, acc + tiled_rows * d, 0.f);
  std::fill(row_max, row_max + tiled_rows, -std::numeric_limits<float>::infinity());
  std::fill(row_sum, row_sum + tiled_rows, 0.f);

  const float* key_panels = pb.kp + bh * pb.Tkp * d;
  const float* values = pb.v + b * pb.v_batch + h * d;
  for (int64_t k0 = 0; k0 < pb.Tk; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, pb.Tk - k0), padded = (nk + kPanel - 1) / kPanel * kPanel;
    for (int64_t j = 0; j < padded; j += kPanel) {
      const float* panel = key_panels + (k0 + j) * d;  // panel (k0+j)/16 starts at (k0+j)/16 · d · 16
      for (int64_t r = 0; r < tiled_rows; r += kTileRows)
        tile_6x16<false>(q_block + r * d, d, panel, kPanel, d, scores + r * kBlockK + j, kBlockK);
    }
    // Online softmax: new maxima rescale what was accumulated so far.
    for (int64_t r = 0; r < tiled_rows; ++r) {
      float* s = scores + r * kBlockK;
      for (int64_t j = nk; j < padded; ++j) s[j] = -std::numeric_limits<float>::infinity();
      __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
      for (int64_t j = 0; j < padded; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
      const float new_max = std::max(row_max[r], horizontal_max(vmax));
      const float rescale = std::exp2(row_max[r] - new_max);
      const __m256 shift = _mm256_set1_ps(new_max);
      __m256 vsum = _mm256_setzero_ps();
      for (int64_t j = 0; j < padded; j += 8) {
        const __m256 e = exp2_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + j), shift));
        _mm256_storeu_ps(s + j, e);
        vsum = _mm256_add_ps(vsum, e);
      }
      row_sum[r] = row_sum[r] * rescale + horizontal_sum(vsum);
      row_max[r] = new_max;
      if (rescale != 1.f) {
        const __m256 vr = _mm256_set1_ps(rescale);
        for (int64_t p = 0; p < d; p += 8)
          _mm256_storeu_ps(acc + r * d + p, _mm256_mul_ps(_mm256_loadu_ps(acc + r * d + p), vr));
      }
    }
    const float* v_block = values + k0 * pb.v_row;
    for (int64_t r = 0; r < tiled_rows; r += kTileRows) {
      int64_t c = 0;
      for (; c + 16 <= d; c += 16)
        tile_6x16<true>(scores + r * kBlockK, kBlockK, v_block + c, pb.v_row, nk, acc + r * d + c, d);
      if (c < d) value_tile8(scores + r * kBlockK, v_block + c, pb.v_row, nk, acc + r * d + c, d);
    }
  }
  const int64_t C = pb.H * d;
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = pb.out + (b * pb.Tq + r0 + r) * C + h * d;
    const __m256 inv = _mm256_set1_ps(1.f / row_sum[r]);
    for (int64_t p = 0; p < d; p += 8) _mm256_storeu_ps(dst + p, _mm256_mul_ps(_mm256_loadu_ps(acc + r * d + p), inv));
  }
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace
#endif

bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads) {
#if PRTKL_FUSED_ATTENTION
  if (!cpu_has_avx2_fma()) return false;
  for (const auto* t : {&q, &k, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat32 || t->dim() != 3 || t->stride(2) != 1)
      return false;
    if (torch::GradMode::is_enabled() && t->requires_grad()) return false;
  }
  const auto C = q.size(2);
  return heads > 0 && C % heads == 0 && (C / heads) % 8 == 0 && k.size(2) == C && v.size(2) == C &&
         k.size(1) == v.size(1) && k.size(1) > 0 && q.size(0) == k.size(0) && k.size(0) == v.size(0);
#else
  return false;
#endif
}

torch::Tensor fused_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  int64_t heads) {
  TORCH_CHECK(fused_attention_applies(q, k, v, heads), "fused_attention_cpu: unsupported inputs");
#if PRTKL_FUSED_ATTENTION
  RECORD_FUNCTION("prtkl::fused_attention", std::vector<c10::IValue>({q, k, v}));  // seen by profilers
  const int64_t B = q.size(0), Tq = q.size(1), Tk = k.size(1), C = q.size(2), d = C / heads;
  const int64_t Tkp = (Tk + kPanel - 1) / kPanel * kPanel;
  // Keys as 16-key panels, each d rows of 16 consecutive keys: the score tile reads them front to back.
  auto k_padded = Tkp == Tk ? k : torch::constant_pad_nd(k, {0, 0, 0, Tkp - Tk});
  auto kp = k_padded.reshape({B, Tkp / kPanel, kPanel, heads, d}).permute({0, 3, 1, 4, 2}).contiguous();
  auto out = torch::empty({B, Tq, C}, q.options());
  Problem pb{q.data_ptr<float>(), kp.data_ptr<float>(), v.data_ptr<float>(), out.data_ptr<float>(),
             B, heads, Tq, Tk, Tkp, d, q.stride(0), q.stride(1), v.stride(0), v.stride(1),
             static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)) / std::log(2.0))};
  const int64_t tasks = B * heads * ((Tq + kBlockQ - 1) / kBlockQ);
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> q_block(kBlockQ * d), scores(kBlockQ * kBlockK), acc(kBlockQ * d), row_max(kBlockQ),
        row_sum(kBlockQ);
    for (int64_t t = begin; t < end; ++t)
      attend_block(pb, t, q_block.data(), scores.data(), acc.data(), row_max.data(), row_sum.data());
  });
  return out;
#else
  return {};
#endif
}

}  // namespace prtkl
