#pragma once
// The x86 vector extensions prtkl's own kernels and its BLAS choice depend on, read once from the CPU (and the
// OS's saved-state support, which __builtin_cpu_supports checks). All false on other architectures.

namespace prtkl {

struct CpuFeatures {
  bool avx2_fma = false;     // AVX2 and FMA (Haswell and later, every AMD Zen)
  bool avx512 = false;       // AVX-512 F, BW, DQ and VL (Skylake-X and later, AMD Zen 4)
  bool avx512_bf16 = false;  // AVX-512 with BF16 conversions and dot products (Cooper Lake, Sapphire Rapids, Zen 4)
  bool amx_bf16 = false;     // AMX tiles with bfloat16 products (Sapphire Rapids): oneDNN's bfloat16 matmuls use them
};

const CpuFeatures& cpu_features();

}  // namespace prtkl
