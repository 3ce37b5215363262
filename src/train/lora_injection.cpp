#include "train/lora_injection.h"

#include <set>

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
  for (const auto& layer : layers) {
    out.push_back(layer.lora->down);
    out.push_back(layer.lora->up);
  }
  return out;
}

std::map<std::string, LoraPair> InjectedLora::pairs(const std::string& component, double alpha) const {
  std::map<std::string, LoraPair> out;
  for (const auto& layer : layers)
    out[component + "." + layer.name] = LoraPair{layer.lora->down.detach().clone(), layer.lora->up.detach().clone(), alpha};
  return out;
}

InjectedLora inject_lora(torch::nn::Module& module, const std::vector<std::string>& suffixes, int64_t rank, double alpha,
                         double dropout, at::Generator& gen, const std::string& component) {
  if (rank < 1) fail("LoRA rank must be >= 1 (got ", rank, ")");
  InjectedLora out;
  std::set<std::string> hit_targets;
  for (const auto& item : module.named_modules("", false)) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    auto* conv = dynamic_cast<Conv2dImpl*>(item.value().get());
    if (!linear && !conv) continue;
    bool hit = false;
    for (const auto& s : suffixes)
      if (matches(item.key(), s)) hit = true, hit_targets.insert(s);
    if (!hit) continue;
    if (linear) linear->add_lora(rank, alpha, dropout, gen);
    if (conv) conv->add_lora(rank, alpha, dropout, gen);
    auto* lora = linear ? &linear->lora : &conv->lora;
    for (auto* w : {&lora->down, &lora->up}) w->set_requires_grad(true);
    out.layers.push_back({item.key(), lora});
  }
  for (const auto& s : suffixes)
    if (!hit_targets.count(s)) fail("LoRA target '", s, "' matches no Linear or Conv2d layer of the ", component);
  return out;
}

void InjectedLora::set_enabled(bool enabled) const {
  for (const auto& l : layers) l.lora->enabled = enabled;
}

}  // namespace prtkl
