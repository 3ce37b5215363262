#include "train/training_outputs.h"

namespace prtkl {

Metadata adapter_metadata(const TrainConfig& c, ModelFamily family, int64_t step, const std::string& dataset_hash) {
  Metadata meta{{"prtkl.base_model", c.model},
                {"prtkl.rank", std::to_string(c.rank)},
                {"prtkl.alpha", std::to_string(c.alpha)},
                {"prtkl.steps", std::to_string(step)},
                {"prtkl.dataset_hash", dataset_hash},
                {"prtkl.optimizer", name_of(c.optimizer)},
                {"ss_network_module", "networks.lora"},
                {"ss_network_dim", std::to_string(c.rank)},
                {"ss_network_alpha", std::to_string(c.alpha)},
                {"ss_steps", std::to_string(step)},
                {"ss_base_model_version", family == ModelFamily::SDXL ? "sdxl_base_v1-0" : "sd_v1"}};
  if (c.pivotal) meta["prtkl.tokens"] = c.pivotal_tokens();
  if (c.distill != Distillation::kNone) {  // an LCM-LoRA: sample it with --sampler lcm at a few steps and low CFG
    meta["prtkl.distill"] = name_of(c.distill);
    meta["prtkl.lcm_guidance"] = std::to_string(c.lcm_guidance);
  }
  return meta;
}

void write_adapter_outputs(const std::filesystem::path& dir, const RunFolder& run, const AdapterOutputs& outputs) {
  write_lora_peft((dir / RunFolder::kLoraFile).string(), outputs.lora, outputs.metadata);
  write_lora_kohya((dir / run.kohya_file()).string(), outputs.lora, outputs.metadata);
  if (!outputs.embeddings.empty())
    save_safetensors((dir / run.embeddings_file()).string(), outputs.embeddings, outputs.metadata);
}

}  // namespace prtkl
