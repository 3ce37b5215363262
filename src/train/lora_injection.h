// Puts trainable LoRA adapters on a model's layers the way PEFT's target_modules does: every Linear or Conv2d whose
// module name ends with a target suffix (to_q, to_k, to_v, to_out.0 for diffusers' UNet attention; conv1, conv2
// for its resnets: kohya's LoCon), and reads them back as LoRA pairs for saving.
#pragma once
#include <string>
#include <vector>

#include "adapters/lora.h"
#include "models/layers.h"

namespace prtkl {

struct InjectedLora {
  struct Layer {
    std::string name;  // module path
    LoraBranch* lora;  // owned by the module, which outlives this
  };
  std::vector<Layer> layers;
  std::vector<torch::Tensor> parameters() const;  // every lora_A / lora_B weight, trainable
  // The adapters as LoRA pairs named "<component>.<module>" (alpha recorded), ready for write_lora_peft/kohya.
  std::map<std::string, LoraPair> pairs(const std::string& component, double alpha) const;
  // Every adapter off (the layers compute their base weights alone) or back on.
  void set_enabled(bool enabled) const;
};

// Throws naming a target that matches no Linear or Conv2d layer of `module` (a target list is checked whole: a
// misspelt or unsupported target would otherwise train nothing there without a word).
InjectedLora inject_lora(torch::nn::Module& module, const std::vector<std::string>& target_suffixes, int64_t rank,
                         double alpha, double dropout, at::Generator& gen, const std::string& component);

}  // namespace prtkl
