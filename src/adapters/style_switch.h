// One style at a time on a loaded model, for a server that draws each job in the style the job asks for: the
// previous style's LoRA is taken out exactly (LoraApplier keeps the original weights) before the next one is
// merged, so no style leaks into a job drawn in another or in none.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "adapters/lora_apply.h"
#include "adapters/style.h"
#include "diffusion/model_loader.h"

namespace prtkl {

class StyleSwitch {
 public:
  explicit StyleSwitch(StableDiffusionModel& model);
  ~StyleSwitch();
  // Makes `style` current (nullptr: none). Its embeddings are (re)loaded, so a style whose tokens another style
  // also uses (<s0><s1>) gets its own rows back. The model must be fully loaded (not LoadOptions::deferred).
  // Returns warnings (LoRA keys that match no module) the first time a style is put on.
  std::vector<std::string> use(const Style* style);

 private:
  StableDiffusionModel& model_;
  std::unique_ptr<LoraApplier> applier_;  // made at the first style with a LoRA
  std::string current_;                   // the current style's folder; empty: none
};

}  // namespace prtkl
