#include "diffusion/convert.h"

#include <filesystem>

#include "core/error.h"
#include "core/safetensors.h"
#include "diffusion/checkpoint_keys.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

template <typename KeyFn>
void add_component(TensorMap& out, torch::nn::Module& m, const std::string& prefix, KeyFn original, torch::Dtype dtype) {
  std::map<std::string, std::array<torch::Tensor, 3>> qkv;  // OpenCLIP in_proj: q, k, v concatenated
  for (const auto& p : m.named_parameters(true)) {
    const OriginalKey ok = original(p.key());
    auto t = p.value().detach().to(torch::kCPU, dtype);
    switch (ok.transform) {
      case KeyTransform::QChunk: qkv[prefix + ok.key][0] = t; break;
      case KeyTransform::KChunk: qkv[prefix + ok.key][1] = t; break;
      case KeyTransform::VChunk: qkv[prefix + ok.key][2] = t; break;
      default: out[prefix + ok.key] = to_original(t, ok.transform);
    }
  }
  for (auto& [key, parts] : qkv) out[key] = torch::cat({parts[0], parts[1], parts[2]});
}

TensorMap component_tensors(torch::nn::Module& m, torch::Dtype dtype) {
  TensorMap out;
  for (const auto& p : m.named_parameters(true)) out[p.key()] = p.value().detach().to(torch::kCPU, dtype);
  return out;
}

}  // namespace

void save_single_file(StableDiffusionModel& model, const std::string& path, torch::Dtype dtype) {
  TensorMap out;
  const Config& unet_cfg = model.unet_config;
  const Config& vae_cfg = model.vae_config;
  add_component(out, *model.unet, CheckpointPrefixes::unet,
                [&](const std::string& k) { return unet_original_key(k, unet_cfg); }, dtype);
  add_component(out, *model.vae, CheckpointPrefixes::vae,
                [&](const std::string& k) { return vae_original_key(k, vae_cfg); }, dtype);
  auto same = [](const std::string& k) { return OriginalKey{k}; };
  if (model.family == ModelFamily::SD15) {
    add_component(out, *model.text_encoder, CheckpointPrefixes::sd15_text_encoder, same, dtype);
  } else {
    add_component(out, *model.text_encoder, CheckpointPrefixes::sdxl_text_encoder, same, dtype);
    add_component(out, *model.text_encoder_2, CheckpointPrefixes::sdxl_text_encoder_2, open_clip_original_key, dtype);
  }
  save_safetensors(path, out);
}

void save_diffusers(StableDiffusionModel& model, const std::string& config_root, const std::string& dir,
                    torch::Dtype dtype) {
  const fs::path root(config_root), target(dir);
  if (fs::exists(target) && !fs::is_empty(target)) fail(dir, ": output folder exists and is not empty");
  // Write into a temp folder and rename it at the end: an interrupted conversion leaves no half model.
  const fs::path tmp = target.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  auto copy_dir = [&](const std::string& name) {
    if (fs::exists(root / name)) fs::copy(root / name, tmp / name, fs::copy_options::recursive);
  };
  fs::copy_file(root / "model_index.json", tmp / "model_index.json");
  for (const std::string name : {"tokenizer", "tokenizer_2", "scheduler"}) copy_dir(name);
  auto write = [&](torch::nn::Module& m, const std::string& name, const std::string& file) {
    fs::create_directories(tmp / name);
    fs::copy_file(root / name / "config.json", tmp / name / "config.json");
    save_safetensors((tmp / name / file).string(), component_tensors(m, dtype), {{"format", "pt"}});
  };
  write(*model.unet, "unet", "diffusion_pytorch_model.safetensors");
  write(*model.vae, "vae", "diffusion_pytorch_model.safetensors");
  write(*model.text_encoder, "text_encoder", "model.safetensors");
  if (model.text_encoder_2) write(*model.text_encoder_2, "text_encoder_2", "model.safetensors");
  if (fs::exists(target)) fs::remove(target);
  fs::rename(tmp, target);
}

void convert_model(const std::string& in, const std::string& out, const std::string& config_dir, torch::Dtype dtype) {
  LoadOptions options;
  options.config_dir = config_dir;
  auto model = load_model(in, options);
  if (fs::is_directory(in)) {
    save_single_file(model, out, dtype);
  } else {
    std::string root = config_dir;
    if (root.empty()) root = (fs::path(in).parent_path() / fs::path(in).stem()).string();
    save_diffusers(model, root, out, dtype);
  }
}

}  // namespace prtkl
