#include "models/fused_attention_cpu.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/cpu_features.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 intrinsics start their results from _mm512_undefined_*(), which its flow analysis then
// reports as (maybe) uninitialised in functions compiled with a target attribute.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "models/simd_exp2.h"
#define PRTKL_FUSED_ATTENTION 1
#else
#define PRTKL_FUSED_ATTENTION 0
#endif

namespace prtkl {

#if PRTKL_FUSED_ATTENTION
namespace {

// AVX2/FMA: 8 lanes, 6×16 tiles (12 of the 16 registers accumulate), 48 query rows per task.
namespace avx2 {
#define PRTKL_KERNEL_TARGET __attribute__((target("avx2,fma")))
using Vec = __m256;
constexpr int64_t kLanes = 8, kTileRows = 6, kBlockQ = 48;
#define PRTKL_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

PRTKL_KERNEL_TARGET inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
PRTKL_KERNEL_TARGET inline void vstore(float* p, Vec x) { _mm256_storeu_ps(p, x); }
PRTKL_KERNEL_TARGET inline Vec vzero() { return _mm256_setzero_ps(); }
PRTKL_KERNEL_TARGET inline Vec vset1(float x) { return _mm256_set1_ps(x); }
PRTKL_KERNEL_TARGET inline Vec vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
PRTKL_KERNEL_TARGET inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
PRTKL_KERNEL_TARGET inline Vec vmax(Vec a, Vec b) { return _mm256_max_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vmul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vsub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
PRTKL_KERNEL_TARGET inline float hmax(Vec x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
PRTKL_KERNEL_TARGET inline float hsum(Vec x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
// Scores minus their row maximum: x <= 0, so only the lower clamp of exp2_avx2 ever acts.
PRTKL_KERNEL_TARGET inline Vec exp2_nonpositive(Vec x) { return exp2_avx2(x); }

#include "models/fused_attention_kernel.inc"
#undef PRTKL_KERNEL_TARGET
#undef PRTKL_TILE_ROWS
}  // namespace avx2

// AVX-512: 16 lanes, 8×32 tiles (16 of the 32 registers accumulate), 64 query rows per task.
namespace avx512 {
#define PRTKL_KERNEL_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
using Vec = __m512;
constexpr int64_t kLanes = 16, kTileRows = 8, kBlockQ = 64;
#define PRTKL_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

PRTKL_KERNEL_TARGET inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
PRTKL_KERNEL_TARGET inline void vstore(float* p, Vec x) { _mm512_storeu_ps(p, x); }
PRTKL_KERNEL_TARGET inline Vec vzero() { return _mm512_setzero_ps(); }
PRTKL_KERNEL_TARGET inline Vec vset1(float x) { return _mm512_set1_ps(x); }
PRTKL_KERNEL_TARGET inline Vec vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
PRTKL_KERNEL_TARGET inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
PRTKL_KERNEL_TARGET inline Vec vmax(Vec a, Vec b) { return _mm512_max_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vmul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vsub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
PRTKL_KERNEL_TARGET inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
PRTKL_KERNEL_TARGET inline float hmax(Vec x) { return _mm512_reduce_max_ps(x); }
PRTKL_KERNEL_TARGET inline float hsum(Vec x) { return _mm512_reduce_add_ps(x); }
PRTKL_KERNEL_TARGET inline Vec exp2_nonpositive(Vec x) { return exp2_avx512(x); }

#include "models/fused_attention_kernel.inc"
#undef PRTKL_KERNEL_TARGET
#undef PRTKL_TILE_ROWS
}  // namespace avx512

}  // namespace
#endif

bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads) {
#if PRTKL_FUSED_ATTENTION
  const auto dtype = q.scalar_type();
  if (!cpu_features().avx2_fma || (dtype != torch::kFloat32 && dtype != torch::kBFloat16)) return false;
  for (const auto* t : {&q, &k, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != dtype || t->dim() != 3 || t->stride(2) != 1) return false;
    if (torch::GradMode::is_enabled() && t->requires_grad()) return false;
  }
  const auto C = q.size(2);
  return heads > 0 && C % heads == 0 && (C / heads) % 8 == 0 && k.size(2) == C && v.size(2) == C &&
         k.size(1) == v.size(1) && k.size(1) > 0 && q.size(0) == k.size(0) && k.size(0) == v.size(0);
#else
  return false;
#endif
}

bool fused_attention_preferred(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads) {
  if (!fused_attention_applies(q, k, v, heads)) return false;
  return !(q.scalar_type() == torch::kBFloat16 && cpu_features().amx_bf16 && q.size(2) / heads >= 256);
}

std::vector<AttentionKernel> available_attention_kernels() {
  std::vector<AttentionKernel> kernels;
#if PRTKL_FUSED_ATTENTION
  if (cpu_features().avx2_fma) kernels.push_back(AttentionKernel::avx2);
  if (cpu_features().avx512) kernels.push_back(AttentionKernel::avx512);
#endif
  return kernels;
}

torch::Tensor fused_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                                  std::optional<AttentionKernel> kernel) {
  TORCH_CHECK(fused_attention_applies(q, k, v, heads), "fused_attention_cpu: unsupported inputs");
  const auto kernels = available_attention_kernels();
  if (!kernel) kernel = kernels.back();
  TORCH_CHECK(std::find(kernels.begin(), kernels.end(), *kernel) != kernels.end(),
              "fused_attention_cpu: this CPU cannot run the requested kernel");
#if PRTKL_FUSED_ATTENTION
  RECORD_FUNCTION("prtkl::fused_attention", std::vector<c10::IValue>({q, k, v}));  // seen by profilers
  // bfloat16 is widened as the kernel reads it: AVX512-BF16's pair dot product runs at half the multiply-adds
  // per cycle of float32 FMA on the Xeons measured (BENCHMARKS.md).
  return *kernel == AttentionKernel::avx512 ? avx512::attend(q, k, v, heads) : avx2::attend(q, k, v, heads);
#else
  return {};
#endif
}

}  // namespace prtkl
