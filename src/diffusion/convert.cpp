#include "diffusion/convert.h"

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "core/safetensors.h"
#include "diffusion/checkpoint_keys.h"
#include "diffusion/model_save.h"

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

void convert_model(const std::string& in, const std::string& out, const std::string& config_dir, torch::Dtype dtype) {
  LoadOptions options;
  options.config_dir = config_dir;
  if (!fs::is_directory(in)) require_new_output("convert", out);
  auto model = load_model(in, options);
  if (fs::is_directory(in)) {
    save_single_file(model, out, dtype);
  } else {
    std::string root = config_dir;
    if (root.empty()) root = (fs::path(in).parent_path() / fs::path(in).stem()).string();
    SaveModelOptions save;
    save.dtype = dtype;
    save.config_root = root;
    save_diffusers_model(model, out, save);
  }
}

}  // namespace prtkl
