// Key names of single-file checkpoints (original LDM/SGM layout, as written by A1111, ComfyUI and the
// Stability releases) expressed from the diffusers names our modules use. Mapping in this direction serves
// both loading (look up the original tensor for each module parameter) and converting (write each parameter
// under its original name).
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "core/json_config.h"

namespace prtkl {

// How a diffusers tensor is stored in the original file.
enum class KeyTransform {
  None,
  QChunk, KChunk, VChunk,  // OpenCLIP stores q, k, v concatenated in attn.in_proj_{weight,bias}
  Transpose,               // OpenCLIP's text_projection is [hidden, proj]
  Conv1x1,                 // LDM's VAE attention uses 1x1 convs where diffusers has Linear layers
};

struct OriginalKey {
  std::string key;
  KeyTransform transform = KeyTransform::None;
};

// Prefixes of the components inside a single file.
struct CheckpointPrefixes {
  static constexpr const char* unet = "model.diffusion_model.";
  static constexpr const char* vae = "first_stage_model.";
  static constexpr const char* sd15_text_encoder = "cond_stage_model.transformer.";
  static constexpr const char* sdxl_text_encoder = "conditioner.embedders.0.transformer.";
  static constexpr const char* sdxl_text_encoder_2 = "conditioner.embedders.1.model.";
};

// `unet_config` supplies layers_per_block and which up blocks have attentions.
OriginalKey unet_original_key(const std::string& diffusers_key, const Config& unet_config);
// The same, or nothing for a module the original layout has no name for (the bundled model's text-pooled time
// embedding, add_embedding.pool): a LoRA may still name every module it targets.
std::optional<OriginalKey> find_unet_original_key(const std::string& diffusers_key, const Config& unet_config);
OriginalKey vae_original_key(const std::string& diffusers_key, const Config& vae_config);
// transformers CLIP names (text_model.…) -> OpenCLIP names (SDXL's second text encoder).
OriginalKey open_clip_original_key(const std::string& diffusers_key);

// Turns the stored tensor into the diffusers tensor (loading) ...
torch::Tensor from_original(const torch::Tensor& stored, KeyTransform transform);
// ... and back (converting). Chunked keys are concatenated by the caller in q, k, v order.
torch::Tensor to_original(const torch::Tensor& tensor, KeyTransform transform);

}  // namespace prtkl
