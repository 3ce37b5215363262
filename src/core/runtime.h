// Device, dtype and thread settings chosen once, at start-up, from the command line.
#pragma once
#include <torch/torch.h>

#include <string>

namespace prtkl {

// "cpu" or "cuda[:N]"; throws prtkl::Error if the device is not available in this build/machine.
torch::Device parse_device(const std::string& name);
// "fp32" | "bf16" | "fp16"; throws if the device cannot compute in it.
torch::Dtype parse_dtype(const std::string& name, const torch::Device& device);
std::string dtype_name(torch::Dtype dtype);
// n <= 0: all cores. libtorch sometimes starts with one thread, so this is always set explicitly.
void set_threads(int n);

}  // namespace prtkl
