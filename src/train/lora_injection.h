// Puts trainable LoRA adapters on a model's LoRA-capable layers (PEFT-style suffix match on module names, e.g.
// to_q, to_k, to_v, to_out.0 for diffusers' UNet attention), and reads them back as LoRA pairs for saving.
#pragma once
#include <string>
#include <vector>

#include "adapters/lora.h"
#include "models/lora_linear.h"

namespace prtkl {

struct InjectedLora {
  std::vector<std::pair<std::string, LoraLinear>> layers;  // module name -> layer
  std::vector<torch::Tensor> parameters() const;          // every lora_A / lora_B weight, trainable
  // The adapters as LoRA pairs named "<component>.<module>" (alpha recorded), ready for write_lora_peft/kohya.
  std::map<std::string, LoraPair> pairs(const std::string& component, double alpha) const;
};

InjectedLora inject_lora(torch::nn::Module& module, const std::vector<std::string>& target_suffixes, int64_t rank,
                         double alpha, double dropout, at::Generator& gen);

}  // namespace prtkl
