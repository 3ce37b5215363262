#include "adapters/style_switch.h"

#include "adapters/adapter_setup.h"
#include "adapters/embeddings.h"

namespace prtkl {

StyleSwitch::StyleSwitch(StableDiffusionModel& model) : model_(model) {}

StyleSwitch::~StyleSwitch() = default;

std::vector<std::string> StyleSwitch::use(const Style* style) {
  std::vector<std::string> warnings;
  const std::string wanted = style ? style->dir : "";
  if (wanted == current_) return warnings;
  current_.clear();  // a failure below leaves no style claimed, so the next job starts over
  if (style && !style->lora.empty() && !applier_) applier_ = std::make_unique<LoraApplier>(model_);
  if (applier_) {
    std::vector<LoraChoice> loras;
    if (style && !style->lora.empty()) {
      loras.push_back({applier_->read(style->lora), style->lora_scale});
      if (const auto w = unmatched_keys_warning(loras.back().file); !w.empty()) warnings.push_back(w);
    }
    applier_->apply(loras);  // restores the base weights first
  }
  if (style && !style->embeddings.empty()) load_embeddings(model_, style->embeddings);
  current_ = wanted;
  return warnings;
}

}  // namespace prtkl
