// LoRA files in the formats people have — diffusers/PEFT (`lora_A`/`lora_B`, `lora.down`/`lora.up`,
// `lora_linear_layer.down`/`.up`) and kohya/AUTOMATIC1111 (`lora_unet_…`, `lora_te_…`, `lora_te1_…`, `lora_te2_…`
// with `.alpha`) — read into one form, merged into a model with a scale, and written back in either format.
// Beside the pairs, kohya-named files may carry whole-tensor differences as ComfyUI and LyCORIS write them:
// `.diff` (a weight), `.diff_b` (a bias), `.w_norm` / `.b_norm` (a norm's weight and bias).
#pragma once
#include <torch/torch.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace prtkl {

struct LoraPair {
  torch::Tensor down;  // A: [rank, in] (or [rank, in, kh, kw] for convolutions)
  torch::Tensor up;    // B: [out, rank] (or [out, rank, 1, 1])
  std::optional<double> alpha;  // absent: alpha = rank (scale 1), as PEFT files written with lora_alpha = r
  int64_t rank() const { return down.size(0); }
  double alpha_over_rank() const { return alpha ? *alpha / static_cast<double>(rank()) : 1.0; }
  torch::Tensor delta() const;  // (alpha / rank) · up @ down, shaped like the target weight
};

// Module names are "<component>.<module path>": "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
// "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", "text_encoder_2.…".
struct LoraFile {
  std::string path;
  std::string format;  // "peft", "diffusers" or "kohya"
  Metadata metadata;
  std::map<std::string, LoraPair> pairs;
  // Whole-tensor differences by parameter name ("unet.down_blocks.0.resnets.0.norm1.weight"), scaled like the pairs.
  std::map<std::string, torch::Tensor> diffs;
  std::vector<std::string> unmatched;  // keys (or kohya module names) that map to no module of the model
};

// Resolves kohya's flattened names ("down_blocks_0_…_to_out_0") to module names. Built from the model's modules;
// a module can be registered under several aliases (e.g. its original LDM name, as SDXL kohya files use).
class LoraNameIndex {
 public:
  // `low_rank`: a Linear/Conv2d a pair can target; other modules with parameters (norms) take only differences.
  void add(const std::string& component, const std::string& module_path, const std::string& alias_path = "",
           bool low_rank = true);
  std::optional<std::string> resolve(const std::string& component, const std::string& flat) const;
  bool knows(const std::string& module) const { return modules_.count(module) > 0; }  // a target or a norm
  bool contains(const std::string& module) const {  // a pair's target
    auto it = modules_.find(module);
    return it != modules_.end() && it->second;
  }
  // A component the model has but that is not indexed (not loaded yet): its keys are left out, neither merged
  // nor reported as unmatched.
  void skip(const std::string& component) { skipped_.insert(component); }
  bool skips(const std::string& component) const { return skipped_.count(component) > 0; }

 private:
  std::map<std::string, std::string> flat_;  // "<component>/<flat>" -> module name
  std::map<std::string, bool> modules_;  // module -> low_rank
  std::set<std::string> skipped_;
};

LoraFile read_lora(const std::string& path, const LoraNameIndex& index);

// PEFT keys (what diffusers' save_lora_weights writes as pytorch_lora_weights.safetensors). The format has no
// alpha (its readers take alpha = rank), so alpha / rank is multiplied into B. Files with a lora_alpha metadata
// entry (written by earlier versions) are still read with it.
void write_lora_peft(const std::string& path, const std::map<std::string, LoraPair>& pairs, const Metadata& metadata);
// kohya/AUTOMATIC1111 keys with .alpha tensors; `diffs` (parameter name -> difference) as `.diff` / `.diff_b`.
void write_lora_kohya(const std::string& path, const std::map<std::string, LoraPair>& pairs, const Metadata& metadata,
                      const std::map<std::string, torch::Tensor>& diffs = {});

}  // namespace prtkl
