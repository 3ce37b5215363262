#include "core/runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/cpu_features.h"
#include "core/error.h"

namespace prtkl {

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      fail("--device ", name, ": CUDA is not available (this build or machine has no CUDA device)");
    try {
      return torch::Device(name);
    } catch (const c10::Error&) {
      fail("--device ", name, ": not a valid device name");
    }
  }
  fail("--device ", name, ": unknown device (use cpu or cuda)");
}

torch::Dtype parse_storage_dtype(const std::string& name) {
  if (name == "fp32") return torch::kFloat32;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "fp16") return torch::kFloat16;
  fail("--dtype ", name, ": unknown dtype (use auto, fp32, bf16 or fp16)");
}

torch::Dtype auto_dtype(const torch::Device& device) {
  if (device.is_cpu() && (cpu_features().avx512_bf16 || cpu_features().amx_bf16)) return torch::kBFloat16;
  return torch::kFloat32;
}

torch::Dtype parse_dtype(const std::string& name, const torch::Device& device) {
  if (name == "auto") return auto_dtype(device);
  const auto dtype = parse_storage_dtype(name);
  if (dtype == torch::kFloat16 && device.is_cpu())
    fail("--dtype fp16 needs --device cuda (libtorch's CPU kernels lack fp16 convolutions)");
  return dtype;
}

int blas_threads() {
  using Get = int (*)();
  const auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : 0;
}

void set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  // libtorch calls the system BLAS for matmuls; OpenBLAS keeps its own thread pool (all cores by default), which
  // torch::set_num_threads does not reach. Looked up at run time: the libblas alternative may not be OpenBLAS.
  using Set = void (*)(int);
  if (const auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
}

int threads_for_unet(const Config& unet_config, torch::Dtype dtype) {
  if (dtype == torch::kBFloat16) return 0;
  const auto widths = unet_config.get_or<std::vector<int64_t>>("block_out_channels", {});
  const auto side = unet_config.get_or<int64_t>("sample_size", 64);
  double largest = 0;  // a 3x3 convolution width -> width at each level's resolution
  for (size_t level = 0; level < widths.size(); ++level) {
    const double pixels = std::pow(static_cast<double>(side) / std::pow(2.0, static_cast<double>(level)), 2);
    largest = std::max(largest, pixels * 9.0 * static_cast<double>(widths[level] * widths[level]));
  }
  return !widths.empty() && largest < 100e6 ? 1 : 0;
}

void keep_freed_memory_in_process() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);  // blocks up to 1 GiB come from the heap and are reused from there
  // and freeing them never hands the heap's top back by itself (release_freed_memory does, when asked): a training
  // step's activations sit at the top, and trimming them after each step made the next one fault every page in
  // again (SD 1.5 LoRA step at 512², bf16 base: 38 s instead of 13 s, once loading no longer left a hole below)
  mallopt(M_TRIM_THRESHOLD, -1);
#endif
}

void release_freed_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace prtkl
