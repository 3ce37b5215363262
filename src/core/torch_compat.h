// Differences between libtorch 1.13 (Debian, CPU) and 2.x (CUDA builds) live here and nowhere else.
#pragma once
#include <torch/version.h>

// scaled_dot_product_attention (fused/flash kernels) arrived in libtorch 2.0.
#if TORCH_VERSION_MAJOR >= 2
#define PRTKL_HAS_SDPA 1
#else
#define PRTKL_HAS_SDPA 0
#endif
