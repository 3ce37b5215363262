// Loads a Stable Diffusion 1.x / SDXL model from the layouts people have: a diffusers folder (model_index.json,
// one folder per component, fp32/fp16/bf16 weights, `.fp16.` variants, sharded weights) or a single-file
// checkpoint with the original LDM/SGM key names. Both yield identical modules.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/json_config.h"
#include "models/clip.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/clip_tokenizer.h"

namespace prtkl {

enum class ModelFamily { SD15, SDXL };
std::string family_name(ModelFamily family);  // "sd15", "sdxl"

// The parts that can be loaded late. One-shot generation loads the UNet and the VAE when their stage starts and
// frees each after it, so peak memory is the largest stage instead of the whole model.
enum class Component { UNet, Vae };

struct LoadOptions {
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  // The VAE's own dtype, read straight into it (training encodes latents in fp32 whatever `dtype` is). Unset: `dtype`,
  // except that an fp16 VAE whose config says force_upcast stays fp32.
  std::optional<torch::Dtype> vae_dtype;
  // Single-file checkpoints carry no configs or tokenizers: a diffusers folder of the same family supplies them.
  // Default: the folder beside the file with the same stem (model.safetensors -> model/), else configs/<family>
  // of prtkl's own tree; a folder without tokenizers gets OpenAI CLIP's (third_party/clip).
  std::string config_dir;
  std::string variant;  // "fp16": prefer `*.fp16.safetensors` weights in a diffusers folder
  // A VAE of its own (--vae): a .safetensors file with diffusers or original (LDM) key names, with or without the
  // `first_stage_model.` prefix, or a diffusers VAE folder. It replaces the model's VAE, and is needed by a
  // single-file checkpoint that was saved without one.
  std::string vae_path;
  std::set<Component> deferred;  // left unloaded by load_model: load_component reads them when needed
};

struct StableDiffusionModel {
  ModelFamily family = ModelFamily::SD15;
  std::string path;    // what was loaded
  std::string format;  // "diffusers" or "single-file"
  std::string name;    // folder or file stem, e.g. for the PNG "Model:" field
  std::optional<ClipTokenizer> tokenizer, tokenizer_2;
  ClipTextModel text_encoder{nullptr}, text_encoder_2{nullptr};  // text_encoder_2: SDXL only
  UNet2DConditionModel unet{nullptr};
  AutoencoderKL vae{nullptr};
  Config unet_config, vae_config;  // there also while the UNet or the VAE is not loaded
  Config scheduler_config;
  bool force_zeros_for_empty_prompt = false;  // SDXL: an absent negative prompt is all zeros
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  std::vector<std::string> warnings;  // e.g. unused tensors in a single file
  // Multi-vector embedding triggers: "<prtkl>" -> "<prtkl> <prtkl>_1", applied to prompts before tokenizing.
  std::map<std::string, std::string> prompt_expansions;
  LoadOptions options;  // what it was loaded with: load_component reads a part later the same way
  // Run after load_component has loaded a part, e.g. to merge a LoRA into a UNet that loads late.
  std::vector<std::function<void(StableDiffusionModel&, Component)>> on_load;
};

// path: a diffusers folder, a single-file checkpoint, or the name of either in the models folder (models_folder.h).
StableDiffusionModel load_model(const std::string& path, const LoadOptions& options = {});

bool is_loaded(const StableDiffusionModel& model, Component part);
// Reads a part from model.path (if it is not loaded) and runs the on_load hooks.
void load_component(StableDiffusionModel& model, Component part);
// Frees a part; load_component reads it again.
void release_component(StableDiffusionModel& model, Component part);

// What `prtkl info` prints: read from headers and configs only, no weights are loaded.
struct ComponentInfo {
  std::string name;        // unet, vae, text_encoder, ...
  std::string class_name;  // UNet2DConditionModel, ...
  std::vector<std::string> files;
  std::map<std::string, int64_t> dtypes;  // dtype -> number of tensors
  int64_t parameters = 0;
};
struct ModelInfo {
  ModelFamily family = ModelFamily::SD15;
  std::string format;
  std::string path;
  std::vector<ComponentInfo> components;
};
ModelInfo inspect_model(const std::string& path);

}  // namespace prtkl
