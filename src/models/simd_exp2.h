// 2^x on x86 vector registers for prtkl's own kernels (fused attention, the bf16 norms' SiLU): 2^round(x) from the
// exponent bits times 2^f, f in [-0.5, 0.5], by a degree-7 Taylor polynomial (relative error below 1e-8, under
// float32's epsilon). x is clamped to [-127, 127]: 2^-127 comes out as exactly 0, so masked scores vanish; NaN
// stays NaN. Include after <immintrin.h> in a file that checks the CPU before calling.
#pragma once
#include <immintrin.h>

namespace prtkl {

constexpr int kExp2PolynomialTerms = 8;
constexpr float kExp2Polynomial[kExp2PolynomialTerms] = {  // Horner order, highest power first
    1.525273380405984e-05f, 1.5403530393381606e-04f, 1.3333558146428443e-03f, 9.618129107628477e-03f,
    5.550410866482158e-02f, 2.402265069591007e-01f,  6.931471805599453e-01f,  1.f};

__attribute__((target("avx2,fma"))) inline __m256 exp2_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(127.f), _mm256_max_ps(_mm256_set1_ps(-127.f), x));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(kExp2Polynomial[0]);
  for (int i = 1; i < kExp2PolynomialTerms; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2Polynomial[i]));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) inline __m512 exp2_avx512(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(127.f), _mm512_max_ps(_mm512_set1_ps(-127.f), x));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(kExp2Polynomial[0]);
  for (int i = 1; i < kExp2PolynomialTerms; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2Polynomial[i]));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

}  // namespace prtkl
