// Device, dtype and thread settings chosen once, at start-up, from the command line.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/json_config.h"

namespace prtkl {

// "cpu" or "cuda[:N]"; throws prtkl::Error if the device is not available in this build/machine.
torch::Device parse_device(const std::string& name);
// "auto" | "fp32" | "bf16" | "fp16"; throws if the device cannot compute in it.
torch::Dtype parse_dtype(const std::string& name, const torch::Device& device);
// What "auto" means: bf16 on a CPU with bfloat16 arithmetic (AVX512-BF16 or AMX), where a full-size SD 1.5 picture
// takes a third of the fp32 time and differs from it by about 1/255 per pixel on average (BENCHMARKS.md); fp32 on
// other CPUs and on CUDA. fp32 is the one whose pictures equal diffusers' on every machine.
torch::Dtype auto_dtype(const torch::Device& device);
// The same names for weights at rest (files): any device may store fp16.
torch::Dtype parse_storage_dtype(const std::string& name);
// n <= 0: all cores. libtorch sometimes starts with one thread, so this is always set explicitly. Also sets the
// thread pool of OpenBLAS, when that is the BLAS libtorch calls.
void set_threads(int n);
// The thread count for a model when --threads is not given (set_threads' argument). In fp32: 1 for a model whose
// largest convolution of a UNet step (at its config's sample_size) is under 100 M multiply-adds, as the bundled
// model's (9 M), where handing each of its many small ops to a second thread costs more than it saves (1.5-3x slower
// on 2 cores, BENCHMARKS.md); all cores (0) for the rest (SD 1.5: 3.8 G). In bf16 all cores for every model: the
// bundled model's word -> particles took 0.17-0.18 s on two threads against 0.20-0.23 s on one.
int threads_for_unet(const Config& unet_config, torch::Dtype dtype);
constexpr int kAutoThreads = -1;  // --threads' default: threads_for_unet once the model's config is read
// OpenBLAS's thread count, or 0 when the BLAS in use is not OpenBLAS.
int blas_threads();
// Keeps large freed blocks in the process instead of returning each one to the kernel. libtorch allocates and frees
// hundreds of MiB per UNet step; glibc serves such sizes with a fresh mmap, so every step paid a page fault per
// 4 KiB again (BENCHMARKS.md, "Measured wins"). Call once, at start-up; the process keeps its peak size.
void keep_freed_memory_in_process();
// Hands the freed part of the heap back to the kernel once, e.g. after loading, whose peak later work never reaches.
void release_freed_memory();

}  // namespace prtkl
