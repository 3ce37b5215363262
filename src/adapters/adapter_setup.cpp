#include "adapters/adapter_setup.h"

#include <filesystem>
#include <sstream>

#include "adapters/embeddings.h"
#include "adapters/lora_apply.h"

namespace prtkl {

LoraSpec parse_lora_spec(const std::string& spec) {
  LoraSpec out{spec, 1.0};
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon + 1 == spec.size()) return out;
  try {
    size_t used = 0;
    const double scale = std::stod(spec.substr(colon + 1), &used);
    if (used == spec.size() - colon - 1) out = {spec.substr(0, colon), scale};
  } catch (const std::exception&) {  // not a number: the colon belongs to the path
  }
  return out;
}

AppliedAdapters apply_adapters(StableDiffusionModel& model, const std::vector<std::string>& lora_specs,
                               const std::vector<std::string>& embedding_paths) {
  AppliedAdapters out;
  out.id = model.name;
  for (const auto& path : embedding_paths) {
    out.triggers.push_back(load_embeddings(model, path).trigger);
    out.id += "+" + std::filesystem::path(path).stem().string();
  }
  if (lora_specs.empty()) return out;
  LoraApplier applier(model);  // the merge stays in the weights when the applier goes
  std::vector<LoraChoice> loras;
  for (const auto& spec : lora_specs) {
    const auto lora = parse_lora_spec(spec);
    auto file = applier.read(lora.path);
    if (!file.unmatched.empty()) {
      std::ostringstream w;
      w << lora.path << ": " << file.unmatched.size() << " LoRA key(s) match no module, e.g. '"
        << file.unmatched.front() << "'";
      out.warnings.push_back(w.str());
    }
    std::ostringstream id;
    id << "+" << std::filesystem::path(lora.path).stem().string() << "@" << lora.scale;
    out.id += id.str();
    loras.push_back({std::move(file), lora.scale});
  }
  applier.apply(loras);
  return out;
}

}  // namespace prtkl
