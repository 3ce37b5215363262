// Loading weights into a module is a walk over named_parameters()/named_buffers(): module names are checkpoint
// keys (DESIGN.md). Every missing, unexpected or mis-shaped tensor is reported with the file and tensor name.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace prtkl {

struct LoadReport {
  std::vector<std::string> unexpected;  // keys in the file that the module does not have
};

// Copies `tensors` into `module` (converting dtype to the parameter's). Missing or mis-shaped tensors are an
// error naming `source`; unexpected keys are an error unless `allow_unexpected`, then they are returned.
// Each tensor is let go once copied: pass the map with std::move and views of a mapped file leave memory as the
// load goes, so peak memory is the model, not the model plus the file.
LoadReport load_weights(torch::nn::Module& module, TensorMap tensors, const std::string& source,
                        bool allow_unexpected = false);

// Reads one safetensors file into `module`.
LoadReport load_weights_file(torch::nn::Module& module, const std::string& path, bool allow_unexpected = false);

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace prtkl
