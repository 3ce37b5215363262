// `prtkl convert`: diffusers folder <-> single-file checkpoint (original LDM/SGM key names), with an optional
// dtype cast. Both directions go through the loaded modules, so what is written is exactly what loads.
#pragma once
#include <string>

#include "diffusion/model_loader.h"

namespace prtkl {

// Writes `model` as one safetensors file with original key names.
void save_single_file(StableDiffusionModel& model, const std::string& path, torch::Dtype dtype);
// Chooses the direction from `in`: a folder becomes a file and a file becomes a folder.
void convert_model(const std::string& in, const std::string& out, const std::string& config_dir, torch::Dtype dtype);

}  // namespace prtkl
