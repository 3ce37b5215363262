#include "models/norms_bf16_cpu.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 intrinsics start their results from _mm512_undefined_*(), which its flow analysis then
// reports as (maybe) uninitialised in functions compiled with a target attribute.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "models/simd_exp2.h"
#define PRTKL_NORMS_BF16 1
#else
#define PRTKL_NORMS_BF16 0
#endif

namespace prtkl {

#if PRTKL_NORMS_BF16
namespace {

#define PRTKL_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

using bf16_bits = uint16_t;

float bf16_to_float(bf16_bits b) { return static_cast<float>(c10::BFloat16(b, c10::BFloat16::from_bits())); }

const bf16_bits* bf16_data(const torch::Tensor& t) {
  return reinterpret_cast<const bf16_bits*>(t.data_ptr<at::BFloat16>());
}
bf16_bits* bf16_data(torch::Tensor& t) { return reinterpret_cast<bf16_bits*>(t.data_ptr<at::BFloat16>()); }

// What both norms ask of their inputs: a CPU with AVX512-BF16; x, weight and bias bfloat16 CPU tensors that want no
// gradient; weight and bias contiguous [channels].
bool bf16_inference_inputs(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           int64_t channels) {
  if (!cpu_features().avx512_bf16 || x.numel() == 0) return false;
  for (const auto* t : {&x, &weight, &bias}) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != torch::kBFloat16) return false;
    if (torch::GradMode::is_enabled() && t->requires_grad()) return false;
  }
  for (const auto* t : {&weight, &bias})
    if (t->dim() != 1 || t->size(0) != channels || !t->is_contiguous()) return false;
  return true;
}

__mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << n) - 1); }

// Up to 16 bfloat16 values widened to float32 (exact: bfloat16 is float32's upper half); lanes past n are 0.
PRTKL_AVX512_BF16 inline __m512 load_bf16(const bf16_bits* p, int64_t n) {
  const __m256i bits = _mm256_maskz_loadu_epi16(first_lanes(n), p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

PRTKL_AVX512_BF16 inline void store_bf16(bf16_bits* p, __m512 x, int64_t n) {
  _mm256_mask_storeu_epi16(p, first_lanes(n), (__m256i)_mm512_cvtneps_pbh(x));
}

// z · sigmoid(z) = z / (1 + 2^(-z·log2 e)); where the power is clamped (|z| > 88) the quotient is z or 0 anyway.
PRTKL_AVX512_BF16 inline __m512 silu(__m512 z) {
  const __m512 power = exp2_avx512(_mm512_mul_ps(z, _mm512_set1_ps(-1.4426950408889634f)));
  return _mm512_div_ps(z, _mm512_add_ps(_mm512_set1_ps(1.f), power));
}

// Per (sample, channel): the sum and sum of squares of x - shift over the pixels, shift being the channel's
// value at the first pixel, so a mean far from zero does not cancel the variance. float32 lanes add at most
// kFlush values before going to double.
constexpr int64_t kFlush = 256;

struct Sums {
  std::vector<double> sum, sum_squares;  // [N·C]
  std::vector<float> shift;              // [N·C]
};

// Channels first: each channel's pixels are one contiguous run.
PRTKL_AVX512_BF16 void channel_sums(const bf16_bits* x, int64_t pixels, float shift, double& sum, double& squares) {
  const __m512 k = _mm512_set1_ps(shift);
  for (int64_t p0 = 0; p0 < pixels; p0 += 16 * kFlush) {
    __m512 s = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
    const int64_t end = std::min(pixels, p0 + 16 * kFlush);
    for (int64_t p = p0; p < end; p += 16) {
      const int64_t lanes = std::min<int64_t>(16, end - p);
      const __m512 d = _mm512_maskz_sub_ps(first_lanes(lanes), load_bf16(x + p, lanes), k);
      s = _mm512_add_ps(s, d);
      s2 = _mm512_fmadd_ps(d, d, s2);
    }
    sum += _mm512_reduce_add_ps(s);
    squares += _mm512_reduce_add_ps(s2);
  }
}

// Channels last: pixels [p0, p1) of one sample, each a row of C channels, added into sum/squares[C].
PRTKL_AVX512_BF16 void pixel_row_sums(const bf16_bits* x, int64_t C, int64_t p0, int64_t p1, const float* shift,
                                      double* sum, double* squares, std::vector<float>& s, std::vector<float>& s2) {
  for (int64_t b0 = p0; b0 < p1; b0 += kFlush) {
    std::fill(s.begin(), s.end(), 0.f);
    std::fill(s2.begin(), s2.end(), 0.f);
    for (int64_t p = b0; p < std::min(p1, b0 + kFlush); ++p)
      for (int64_t c = 0; c < C; c += 16) {
        const int64_t lanes = std::min<int64_t>(16, C - c);
        const __m512 d = _mm512_maskz_sub_ps(first_lanes(lanes), load_bf16(x + p * C + c, lanes),
                                             _mm512_maskz_loadu_ps(first_lanes(lanes), shift + c));
        _mm512_mask_storeu_ps(s.data() + c, first_lanes(lanes),
                              _mm512_add_ps(_mm512_maskz_loadu_ps(first_lanes(lanes), s.data() + c), d));
        _mm512_mask_storeu_ps(s2.data() + c, first_lanes(lanes),
                              _mm512_fmadd_ps(d, d, _mm512_maskz_loadu_ps(first_lanes(lanes), s2.data() + c)));
      }
    for (int64_t c = 0; c < C; ++c) {
      sum[c] += s[c];
      squares[c] += s2[c];
    }
  }
}

// y = silu(x·scale + offset) over n values of one channel (channels first).
PRTKL_AVX512_BF16 void apply_channel(const bf16_bits* x, bf16_bits* y, int64_t n, float scale, float offset) {
  const __m512 a = _mm512_set1_ps(scale), b = _mm512_set1_ps(offset);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t lanes = std::min<int64_t>(16, n - i);
    store_bf16(y + i, silu(_mm512_fmadd_ps(load_bf16(x + i, lanes), a, b)), lanes);
  }
}

// y = silu(x·scale[c] + offset[c]) over pixel rows [p0, p1) of C channels (channels last).
PRTKL_AVX512_BF16 void apply_pixel_rows(const bf16_bits* x, bf16_bits* y, int64_t C, int64_t p0, int64_t p1,
                                        const float* scale, const float* offset) {
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t c = 0; c < C; c += 16) {
      const int64_t lanes = std::min<int64_t>(16, C - c);
      const __m512 z =
          _mm512_fmadd_ps(load_bf16(x + p * C + c, lanes), _mm512_maskz_loadu_ps(first_lanes(lanes), scale + c),
                          _mm512_maskz_loadu_ps(first_lanes(lanes), offset + c));
      store_bf16(y + p * C + c, silu(z), lanes);
    }
}

// One row of C values: mean, then variance about it (the row is in L1 for both passes), then the affine map.
PRTKL_AVX512_BF16 void layer_norm_row(const bf16_bits* x, bf16_bits* y, int64_t C, const bf16_bits* weight,
                                      const bf16_bits* bias, float eps) {
  __m512 s = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; c += 16) s = _mm512_add_ps(s, load_bf16(x + c, C - c));
  const float mean = _mm512_reduce_add_ps(s) / C;
  const __m512 m = _mm512_set1_ps(mean);
  __m512 s2 = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; c += 16) {
    const __m512 d = _mm512_maskz_sub_ps(first_lanes(C - c), load_bf16(x + c, C - c), m);
    s2 = _mm512_fmadd_ps(d, d, s2);
  }
  const __m512 inv_std = _mm512_set1_ps(1.f / std::sqrt(_mm512_reduce_add_ps(s2) / C + eps));
  for (int64_t c = 0; c < C; c += 16) {
    const __m512 normalised = _mm512_mul_ps(_mm512_sub_ps(load_bf16(x + c, C - c), m), inv_std);
    store_bf16(y + c, _mm512_fmadd_ps(normalised, load_bf16(weight + c, C - c), load_bf16(bias + c, C - c)), C - c);
  }
}

}  // namespace
#endif

bool group_norm_silu_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t groups) {
#if PRTKL_NORMS_BF16
  if (x.dim() < 3 || groups <= 0 || x.size(1) % groups != 0) return false;
  const bool layout = x.is_contiguous() || (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast));
  return layout && bf16_inference_inputs(x, weight, bias, x.size(1));
#else
  return false;
#endif
}

torch::Tensor group_norm_silu_cpu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                  int64_t groups, double eps) {
  TORCH_CHECK(group_norm_silu_applies(x, weight, bias, groups), "group_norm_silu_cpu: unsupported inputs");
#if PRTKL_NORMS_BF16
  RECORD_FUNCTION("prtkl::group_norm_silu", std::vector<c10::IValue>({x}));  // seen by profilers
  const bool channels_last = !x.is_contiguous();
  auto out = torch::empty_like(x);  // keeps the layout
  const bf16_bits *in = bf16_data(x), *w = bf16_data(weight), *b = bf16_data(bias);
  bf16_bits* y = bf16_data(out);
  const int64_t N = x.size(0), C = x.size(1), P = x.numel() / (N * C), per_group = C / groups;

  Sums sums{std::vector<double>(N * C), std::vector<double>(N * C), std::vector<float>(N * C)};
  if (!channels_last) {
    at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        sums.shift[nc] = bf16_to_float(in[nc * P]);
        channel_sums(in + nc * P, P, sums.shift[nc], sums.sum[nc], sums.sum_squares[nc]);
      }
    });
  } else {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) sums.shift[n * C + c] = bf16_to_float(in[n * P * C + c]);
    // Blocks of pixels add into their own sums, added up in order afterwards (the same result on any thread count).
    const int64_t blocks = std::min<int64_t>(64, (P + kFlush - 1) / kFlush), block = (P + blocks - 1) / blocks;
    std::vector<double> partial(2 * N * blocks * C, 0.0);
    at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> s(C), s2(C);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / blocks, p0 = (t % blocks) * block;
        double* sum = partial.data() + 2 * t * C;
        pixel_row_sums(in + n * P * C, C, p0, std::min(P, p0 + block), sums.shift.data() + n * C, sum, sum + C, s, s2);
      }
    });
    for (int64_t t = 0; t < N * blocks; ++t)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t nc = (t / blocks) * C + c;
        sums.sum[nc] += partial[2 * t * C + c];
        sums.sum_squares[nc] += partial[2 * t * C + C + c];
      }
  }

  // Each group's mean and variance from its channels' (Chan et al.'s pairwise combination), then the per-channel
  // affine map silu(x·scale + offset) that normalises and applies weight and bias in one multiply-add.
  std::vector<float> scale(N * C), offset(N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = n * C + g * per_group;
      const auto channel_mean = [&](int64_t c) { return sums.shift[c] + sums.sum[c] / P; };
      double mean = 0;
      for (int64_t c = c0; c < c0 + per_group; ++c) mean += channel_mean(c);
      mean /= per_group;
      double m2 = 0;
      for (int64_t c = c0; c < c0 + per_group; ++c)
        m2 += std::max(0.0, sums.sum_squares[c] - sums.sum[c] * sums.sum[c] / P) +
              P * (channel_mean(c) - mean) * (channel_mean(c) - mean);
      const double inv_std = 1.0 / std::sqrt(m2 / (per_group * P) + eps);
      for (int64_t c = c0; c < c0 + per_group; ++c) {
        const double weight_c = bf16_to_float(w[c - n * C]), bias_c = bf16_to_float(b[c - n * C]);
        scale[c] = static_cast<float>(inv_std * weight_c);
        offset[c] = static_cast<float>(bias_c - mean * inv_std * weight_c);
      }
    }

  if (!channels_last) {
    at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) apply_channel(in + nc * P, y + nc * P, P, scale[nc], offset[nc]);
    });
  } else {
    at::parallel_for(0, N * P, kFlush, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin / P; n <= (end - 1) / P; ++n) {
        const int64_t p0 = std::max(begin, n * P) - n * P, p1 = std::min(end, (n + 1) * P) - n * P;
        apply_pixel_rows(in + n * P * C, y + n * P * C, C, p0, p1, scale.data() + n * C, offset.data() + n * C);
      }
    });
  }
  return out;
#else
  return {};
#endif
}

bool layer_norm_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
#if PRTKL_NORMS_BF16
  return x.dim() >= 1 && bf16_inference_inputs(x, weight, bias, x.size(-1));
#else
  return false;
#endif
}

torch::Tensor layer_norm_cpu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             double eps) {
  TORCH_CHECK(layer_norm_applies(x, weight, bias), "layer_norm_cpu: unsupported inputs");
#if PRTKL_NORMS_BF16
  RECORD_FUNCTION("prtkl::layer_norm", std::vector<c10::IValue>({x}));  // seen by profilers
  // The UNet's transformer blocks hand tokens over as a transposed view of the image; the rows are copied into
  // place first, as ATen's layer norm does.
  const auto rows_in_place = x.contiguous();
  auto out = torch::empty_like(rows_in_place);
  const bf16_bits *in = bf16_data(rows_in_place), *w = bf16_data(weight), *b = bf16_data(bias);
  bf16_bits* y = bf16_data(out);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) layer_norm_row(in + r * C, y + r * C, C, w, b, static_cast<float>(eps));
  });
  return out;
#else
  return {};
#endif
}

}  // namespace prtkl
