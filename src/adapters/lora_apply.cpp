#include "adapters/lora_apply.h"

#include "core/error.h"
#include "diffusion/checkpoint_keys.h"
#include "diffusion/model_parts.h"
#include "models/layers.h"

namespace prtkl {

namespace {

// The loaded module of a part, or null (not loaded, released, or not part of this model).
torch::nn::Module* component(const StableDiffusionModel& model, const std::string& name) {
  for (const auto& part : loaded_parts(model))
    if (part.name == name) return part.module;
  return nullptr;
}

bool is_lora_target(const torch::nn::Module& m) {
  return dynamic_cast<const LinearImpl*>(&m) || dynamic_cast<const Conv2dImpl*>(&m);
}

}  // namespace

LoraNameIndex lora_name_index(StableDiffusionModel& model, const std::set<std::string>& only) {
  LoraNameIndex index;
  for (const std::string name : {"unet", "text_encoder", "text_encoder_2"}) {
    if (name == "text_encoder_2" && model.family != ModelFamily::SDXL) continue;
    auto* comp = component(model, name);
    if (!comp || (!only.empty() && !only.count(name))) {
      index.skip(name);
      continue;
    }
    for (const auto& item : comp->named_modules("", false)) {
      if (!is_lora_target(*item.value())) continue;
      std::string alias;  // kohya names follow the original layout; a module outside it has only its own name
      if (name == "unet")
        if (const auto original = find_unet_original_key(item.key() + ".weight", model.unet_config))
          alias = original->key.substr(0, original->key.size() - 7);  // drop ".weight"
      index.add(name, item.key(), alias);
    }
  }
  return index;
}

LoraApplier::LoraApplier(StableDiffusionModel& model, const std::set<std::string>& only)
    : model_(model), index_(lora_name_index(model, only)) {}

torch::Tensor LoraApplier::weight(const std::string& module) {
  const auto dot = module.find('.');
  auto* comp = component(model_, module.substr(0, dot));
  if (!comp) fail("LoRA targets '", module, "' but the model has no such component");
  auto params = comp->named_parameters(true);
  auto* w = params.find(module.substr(dot + 1) + ".weight");
  if (!w) fail("LoRA targets '", module, "' which has no weight");
  return *w;
}

void LoraApplier::clear() {
  torch::NoGradGuard no_grad;
  for (auto& [module, original] : originals_) weight(module).copy_(original);
  originals_.clear();
}

void LoraApplier::apply(const std::vector<LoraChoice>& loras) {
  torch::NoGradGuard no_grad;
  clear();
  for (const auto& choice : loras) {
    for (const auto& [module, pair] : choice.file.pairs) {
      auto w = weight(module);
      auto delta = pair.delta();
      if (delta.sizes() != w.sizes())
        fail(choice.file.path, ": LoRA for '", module, "' has shape ", delta.sizes(), " but the layer has ", w.sizes());
      if (!originals_.count(module)) originals_[module] = w.clone();
      w.add_((delta * choice.scale).to(w.device(), w.scalar_type()));
    }
  }
}

}  // namespace prtkl
