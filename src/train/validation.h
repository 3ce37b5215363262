// Validation during training: images of fixed prompts and seeds written beside a checkpoint (with index.json,
// which `prtkl sweep` reads to reuse them), and for the autoencoder stages a sheet of inputs over their
// reconstructions. The held-out loss is the trainer's own (it needs the batch loss).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/model_loader.h"
#include "diffusion/pipeline.h"

namespace prtkl {

struct ValidationImages {
  std::vector<std::string> prompts;  // as configured: the index records these
  std::vector<uint64_t> seeds;
  std::vector<EncodedPrompts> encoded;  // per prompt, when the text encoders were freed; else empty
  std::function<GenerateParams(const std::string& prompt, uint64_t seed)> params;
};

// p<prompt>-s<seed>.png for every prompt × seed (A1111 parameters in each) and index.json, in `dir`.
void write_validation_images(StableDiffusionModel& model, const std::filesystem::path& dir, const ValidationImages& v);

// reconstruction.png in `dir`: the pictures (up to 8, [3, H, W] in [-1, 1]) above, their round trips below.
void write_reconstructions(StableDiffusionModel& model, const std::vector<torch::Tensor>& pictures,
                           const std::filesystem::path& dir);

}  // namespace prtkl
