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

bool is_norm(const torch::nn::Module& m) {
  return dynamic_cast<const GroupNormImpl*>(&m) || dynamic_cast<const LayerNormImpl*>(&m);
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
      const bool low_rank = is_lora_target(*item.value());
      if (!low_rank && !is_norm(*item.value())) continue;  // norms take whole-tensor differences only
      std::string alias;  // kohya names follow the original layout; a module outside it has only its own name
      if (name == "unet")
        if (const auto original = find_unet_original_key(item.key() + ".weight", model.unet_config))
          alias = original->key.substr(0, original->key.size() - 7);  // drop ".weight"
      index.add(name, item.key(), alias, low_rank);
    }
  }
  return index;
}

LoraApplier::LoraApplier(StableDiffusionModel& model, const std::set<std::string>& only)
    : model_(model), index_(lora_name_index(model, only)) {}

torch::Tensor LoraApplier::parameter(const std::string& name) {
  const auto dot = name.find('.');
  auto* comp = component(model_, name.substr(0, dot));
  if (!comp) fail("LoRA targets '", name, "' but the model has no such component");
  auto params = comp->named_parameters(true);
  auto* p = params.find(name.substr(dot + 1));
  if (!p) fail("LoRA targets '", name, "' which the model does not have");
  return *p;
}

void LoraApplier::clear() {
  torch::NoGradGuard no_grad;
  for (auto& [name, original] : originals_) parameter(name).copy_(original);
  originals_.clear();
}

void LoraApplier::apply(const std::vector<LoraChoice>& loras) {
  torch::NoGradGuard no_grad;
  clear();
  for (const auto& choice : loras) {
    const auto add = [&](const std::string& name, const torch::Tensor& delta) {
      auto w = parameter(name);
      if (delta.sizes() != w.sizes())
        fail(choice.file.path, ": LoRA for '", name, "' has shape ", delta.sizes(), " but the model has ", w.sizes());
      if (!originals_.count(name)) originals_[name] = w.clone();
      w.add_((delta.to(torch::kFloat32) * choice.scale).to(w.device(), w.scalar_type()));
    };
    for (const auto& [module, pair] : choice.file.pairs) add(module + ".weight", pair.delta());
    for (const auto& [name, diff] : choice.file.diffs) add(name, diff);
  }
}

}  // namespace prtkl
