#include "adapters/adapter_setup.h"

#include <filesystem>
#include <sstream>

#include "adapters/embeddings.h"
#include "adapters/lora_apply.h"
#include "diffusion/models_folder.h"

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

std::string unmatched_keys_warning(const LoraFile& file) {
  if (file.unmatched.empty()) return "";
  return file.path + ": " + std::to_string(file.unmatched.size()) + " LoRA key(s) match no module, e.g. '" +
         file.unmatched.front() + "'";
}

namespace {

// Reads each LoRA file against the applier's index and merges them with their scales; keys that match no
// module become warnings.
void merge_loras(LoraApplier& applier, const std::vector<LoraSpec>& specs, std::vector<std::string>& warnings) {
  std::vector<LoraChoice> loras;
  for (const auto& lora : specs) {
    auto file = applier.read(lora.path);
    if (const auto w = unmatched_keys_warning(file); !w.empty()) warnings.push_back(w);
    loras.push_back({std::move(file), lora.scale});
  }
  applier.apply(loras);  // the merge stays in the weights when the applier goes
}

}  // namespace

AppliedAdapters apply_adapters(StableDiffusionModel& model, const std::vector<std::string>& lora_specs,
                               const std::vector<std::string>& embedding_paths) {
  AppliedAdapters out;
  out.id = model.name;
  for (const auto& name : embedding_paths) {
    const auto path = find_in_models(name, "embeddings");
    out.triggers.push_back(load_embeddings(model, path).trigger);
    out.id += "+" + std::filesystem::path(path).stem().string();
  }
  if (lora_specs.empty()) return out;
  std::vector<LoraSpec> specs;
  for (const auto& spec : lora_specs) {
    specs.push_back(parse_lora_spec(spec));
    specs.back().path = find_in_models(specs.back().path, "lora");
    std::ostringstream id;
    id << "+" << std::filesystem::path(specs.back().path).stem().string() << "@" << specs.back().scale;
    out.id += id.str();
  }
  LoraApplier applier(model);
  merge_loras(applier, specs, out.warnings);
  if (!is_loaded(model, Component::UNet)) {
    // The UNet loads late (LoadOptions::deferred): its part of each LoRA is merged when it does; warnings about
    // it join model.warnings then.
    model.on_load.push_back([specs](StableDiffusionModel& m, Component part) {
      if (part != Component::UNet) return;
      LoraApplier unet_applier(m, {"unet"});
      merge_loras(unet_applier, specs, m.warnings);
    });
  }
  return out;
}

}  // namespace prtkl
