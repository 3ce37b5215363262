// Differences between libtorch 1.13 (Debian, CPU) and 2.x (CUDA builds) live here and nowhere else.
#pragma once
#include <torch/version.h>

// scaled_dot_product_attention (fused/flash kernels) arrived in libtorch 2.0.
#if TORCH_VERSION_MAJOR >= 2
#define PRTKL_HAS_SDPA 1
#else
#define PRTKL_HAS_SDPA 0
#endif

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace prtkl {

// Mixed precision for a scope (training forward passes): eligible ops (matmul, conv) run in `dtype` while the
// weights and the loss stay fp32. 1.13 and 2.x share these per-device calls (2.4 deprecates them for
// set_autocast_enabled(device_type, ...); switch here when the CUDA build needs to).
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled) : cuda_(device == c10::kCUDA), on_(enabled) {
    if (!on_) return;
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(true);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool cuda_, on_;
};

}  // namespace prtkl
