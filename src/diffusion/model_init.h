// `prtkl model init`: a diffusers folder with a published architecture (configs/sd15, configs/sdxl) and seeded
// random weights. Random weights cost exactly what trained ones do, so full-size benchmarks need no download.
#pragma once
#include <torch/torch.h>

#include <string>

namespace prtkl {

struct ModelInitOptions {
  std::string config_root;               // model_index.json + <component>/config.json (+ scheduler)
  // Tokenizer folders to copy (tokenizer_2: SDXL, default = tokenizer); none: OpenAI CLIP's, built from
  // third_party/clip (SDXL's second pads with "!").
  std::string tokenizer, tokenizer_2;
  std::string out;
  torch::Dtype dtype = torch::kFloat32;
  uint64_t seed = 0;
};

// Writes the folder one component at a time (peak memory: the largest component). Errors name the file.
void init_model(const ModelInitOptions& options);

}  // namespace prtkl
