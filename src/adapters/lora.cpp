#include "adapters/lora.h"

#include <algorithm>

#include "core/error.h"

namespace prtkl {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string flatten(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// kohya prefixes -> component names.
const std::pair<const char*, const char*> kKohyaPrefixes[] = {
    {"lora_unet_", "unet"}, {"lora_te1_", "text_encoder"}, {"lora_te2_", "text_encoder_2"}, {"lora_te_", "text_encoder"}};

// diffusers/PEFT suffixes -> (is_down).
const std::pair<const char*, bool> kPeftSuffixes[] = {
    {".lora_A.weight", true},          {".lora_B.weight", false},        {".lora.down.weight", true},
    {".lora.up.weight", false},        {".lora_linear_layer.down.weight", true},
    {".lora_linear_layer.up.weight", false}, {".lora_A.default.weight", true}, {".lora_B.default.weight", false}};

}  // namespace

torch::Tensor LoraPair::delta() const {
  auto d = torch::matmul(up.flatten(1).to(torch::kFloat32), down.flatten(1).to(torch::kFloat32));
  if (down.dim() == 4) d = d.reshape({up.size(0), down.size(1), down.size(2), down.size(3)});
  return d * alpha_over_rank();
}

void LoraNameIndex::add(const std::string& component, const std::string& module_path, const std::string& alias_path,
                        bool low_rank) {
  const std::string module = component + "." + module_path;
  modules_[module] = low_rank;
  flat_[component + "/" + flatten(module_path)] = module;
  if (!alias_path.empty()) flat_[component + "/" + flatten(alias_path)] = module;
}

std::optional<std::string> LoraNameIndex::resolve(const std::string& component, const std::string& flat) const {
  auto it = flat_.find(component + "/" + flat);
  if (it == flat_.end()) return std::nullopt;
  return it->second;
}

LoraFile read_lora(const std::string& path, const LoraNameIndex& index) {
  auto st = SafeTensors::open(path);
  LoraFile lf;
  lf.path = path;
  lf.metadata = st.metadata();
  std::map<std::string, torch::Tensor> downs, ups;
  std::map<std::string, double> alphas;
  bool kohya = false, peft = false, diffusers = false;
  for (const auto& key : st.names()) {
    // kohya: <prefix><flat module>.(lora_down.weight|lora_up.weight|alpha)
    bool handled = false;
    for (const auto& [prefix, component] : kKohyaPrefixes) {
      if (key.rfind(prefix, 0) != 0) continue;
      const auto dot = key.find('.');
      if (dot == std::string::npos) break;
      const std::string flat = key.substr(std::string(prefix).size(), dot - std::string(prefix).size());
      const std::string suffix = key.substr(dot);
      kohya = handled = true;
      if (index.skips(component)) break;
      auto module = index.resolve(component, flat);
      if (!module) {
        lf.unmatched.push_back(key);
        break;
      }
      const bool low_rank = index.contains(*module);
      if (suffix == ".lora_down.weight" && low_rank) downs[*module] = st.get(key);
      else if (suffix == ".lora_up.weight" && low_rank) ups[*module] = st.get(key);
      else if (suffix == ".alpha" && low_rank) alphas[*module] = st.get(key).to(torch::kFloat64).item<double>();
      else if (suffix == ".diff" || suffix == ".w_norm") lf.diffs[*module + ".weight"] = st.get(key);
      else if (suffix == ".diff_b" || suffix == ".b_norm") lf.diffs[*module + ".bias"] = st.get(key);
      else lf.unmatched.push_back(key);
      break;
    }
    if (handled) continue;
    for (const auto& [suffix, is_down] : kPeftSuffixes) {
      if (!ends_with(key, suffix)) continue;
      std::string module = key.substr(0, key.size() - std::string(suffix).size());
      if (module.rfind("base_model.model.", 0) == 0) module = "unet." + module.substr(17);  // bare PEFT UNet files
      (std::string(suffix).find("lora_A") != std::string::npos || std::string(suffix).find("lora_B") != std::string::npos
           ? peft
           : diffusers) = true;
      handled = true;
      if (index.skips(module.substr(0, module.find('.')))) break;
      if (!index.contains(module)) {
        lf.unmatched.push_back(key);
        break;
      }
      (is_down ? downs : ups)[module] = st.get(key);
      break;
    }
    if (!handled) lf.unmatched.push_back(key);
  }
  if (kohya + peft + diffusers == 0) fail(path, ": no LoRA tensors found (neither diffusers/PEFT nor kohya key names)");
  lf.format = kohya ? "kohya" : peft ? "peft" : "diffusers";
  for (const auto& [module, down] : downs) {
    auto up = ups.find(module);
    if (up == ups.end()) fail(path, ": LoRA for '", module, "' has a down/A matrix but no up/B matrix");
    if (up->second.size(1) != down.size(0))
      fail(path, ": LoRA for '", module, "' has mismatched ranks (", down.size(0), " vs ", up->second.size(1), ")");
    LoraPair pair{down, up->second, std::nullopt};
    if (alphas.count(module)) pair.alpha = alphas[module];
    else if (lf.metadata.count("lora_alpha")) pair.alpha = std::stod(lf.metadata.at("lora_alpha"));
    lf.pairs[module] = pair;
  }
  for (const auto& [module, _] : ups)
    if (!downs.count(module)) fail(path, ": LoRA for '", module, "' has an up/B matrix but no down/A matrix");
  return lf;
}

void write_lora_peft(const std::string& path, const std::map<std::string, LoraPair>& pairs, const Metadata& metadata) {
  TensorMap t;
  for (const auto& [module, p] : pairs) {
    t[module + ".lora_A.weight"] = p.down;
    // Readers of these files (diffusers' load_lora_weights, ComfyUI) take alpha = rank: the scale goes into B.
    t[module + ".lora_B.weight"] = p.alpha ? (p.up * p.alpha_over_rank()).to(p.up.scalar_type()) : p.up;
  }
  Metadata m = metadata;
  m["format"] = "pt";
  save_safetensors(path, t, m);
}

void write_lora_kohya(const std::string& path, const std::map<std::string, LoraPair>& pairs, const Metadata& metadata,
                      const std::map<std::string, torch::Tensor>& diffs) {
  const auto kohya_name = [](const std::string& module) {
    const auto dot = module.find('.');
    const std::string component = module.substr(0, dot);
    const std::string prefix = component == "unet" ? "lora_unet_" : component == "text_encoder" ? "lora_te1_" : "lora_te2_";
    return prefix + flatten(module.substr(dot + 1));
  };
  TensorMap t;
  for (const auto& [param, diff] : diffs) {
    const auto dot = param.rfind('.');
    const std::string kind = param.substr(dot + 1);
    if (kind != "weight" && kind != "bias") fail(path, ": no kohya key for the difference of '", param, "'");
    t[kohya_name(param.substr(0, dot)) + (kind == "weight" ? ".diff" : ".diff_b")] = diff;
  }
  for (const auto& [module, p] : pairs) {
    const std::string base = kohya_name(module);
    t[base + ".lora_down.weight"] = p.down;
    t[base + ".lora_up.weight"] = p.up;
    t[base + ".alpha"] = torch::tensor(p.alpha ? *p.alpha : static_cast<double>(p.rank()), torch::kFloat32);
  }
  save_safetensors(path, t, metadata);
}

}  // namespace prtkl
