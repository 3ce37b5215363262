// What a LoRA / pivotal run leaves in a checkpoint and, at the end, in its run folder: the LoRA as PEFT
// (diffusers) and kohya files with the same metadata (A1111's ss_* keys included), and the new token rows as
// NAME_emb.safetensors (clip_l, clip_g: the layout diffusers' advanced script writes, which A1111 and ComfyUI load).
// Full training saves a diffusers model folder instead (diffusion/model_save.h).
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "adapters/lora.h"
#include "core/safetensors.h"
#include "diffusion/model_loader.h"
#include "train/run_folder.h"
#include "train/train_config.h"

namespace prtkl {

struct AdapterOutputs {
  std::map<std::string, LoraPair> lora;  // "<component>.<module>" -> pair
  TensorMap embeddings;                  // empty unless pivotal
  Metadata metadata;
};

// The metadata every adapter file of run `c` carries at `step`.
Metadata adapter_metadata(const TrainConfig& c, ModelFamily family, int64_t step, const std::string& dataset_hash);

void write_adapter_outputs(const std::filesystem::path& dir, const RunFolder& run, const AdapterOutputs& outputs);

}  // namespace prtkl
