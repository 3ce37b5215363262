#include "train/lora_injection.h"

#include "core/error.h"

namespace prtkl {

namespace {
bool matches(const std::string& name, const std::string& suffix) {
  return name == suffix || (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                            name[name.size() - suffix.size() - 1] == '.');
}
}  // namespace

std::vector<torch::Tensor> InjectedLora::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& [_, layer] : layers) {
    out.push_back(layer->lora_A->weight);
    out.push_back(layer->lora_B->weight);
  }
  return out;
}

std::map<std::string, LoraPair> InjectedLora::pairs(const std::string& component, double alpha) const {
  std::map<std::string, LoraPair> out;
  for (const auto& [name, layer] : layers)
    out[component + "." + name] = LoraPair{layer->lora_A->weight.detach().clone(), layer->lora_B->weight.detach().clone(), alpha};
  return out;
}

InjectedLora inject_lora(torch::nn::Module& module, const std::vector<std::string>& suffixes, int64_t rank, double alpha,
                         double dropout, at::Generator& gen) {
  if (rank < 1) fail("LoRA rank must be >= 1 (got ", rank, ")");
  InjectedLora out;
  for (const auto& item : module.named_modules("", false)) {
    auto layer = std::dynamic_pointer_cast<LoraLinearImpl>(item.value());
    if (!layer) continue;
    bool hit = false;
    for (const auto& s : suffixes) hit |= matches(item.key(), s);
    if (!hit) continue;
    layer->add_lora(rank, alpha, dropout, gen);
    for (auto* w : {&layer->lora_A->weight, &layer->lora_B->weight}) w->set_requires_grad(true);
    out.layers.emplace_back(item.key(), LoraLinear(layer));
  }
  if (out.layers.empty()) fail("LoRA: no layer matches the targets");
  return out;
}

}  // namespace prtkl
