#include "diffusion/model_save.h"

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/model_parts.h"

namespace prtkl {

namespace fs = std::filesystem;

void save_module_weights(const torch::nn::Module& module, const std::string& file, torch::Dtype dtype,
                         Metadata metadata) {
  TensorMap tensors;
  for (const auto& p : module.named_parameters(true))
    tensors[p.key()] = p.value().detach().to(torch::kCPU, dtype).contiguous();
  metadata["format"] = "pt";
  save_safetensors(file, tensors, metadata);
}

void save_diffusers_model(const StableDiffusionModel& m, const std::string& out, const SaveModelOptions& o) {
  const fs::path src(o.config_root.empty() ? m.path : o.config_root);
  if (!fs::exists(src / "model_index.json")) {
    if (o.config_root.empty())
      fail(m.path, ": saving a diffusers folder needs one to copy configs and tokenizers from (this model is a single "
                   "file: name a diffusers folder of its family)");
    fail(o.config_root, ": not a diffusers folder (no model_index.json) to copy configs and tokenizers from");
  }
  const auto parts = loaded_parts(m);
  if (!m.unet || !m.vae || !m.text_encoder || (m.family == ModelFamily::SDXL && !m.text_encoder_2))
    fail(m.path, ": every part must be loaded to save the model");
  const fs::path final_dir(out), tmp(out + ".partial");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  fs::copy_file(src / "model_index.json", tmp / "model_index.json");
  std::vector<std::string> folders = {"tokenizer", "tokenizer_2", "scheduler"};
  for (const auto& part : parts) folders.push_back(part.name);
  for (const auto& part : folders) {
    if (!fs::exists(src / part)) continue;
    fs::create_directories(tmp / part);
    for (const auto& e : fs::directory_iterator(src / part)) {
      const auto ext = e.path().extension().string();
      if (!e.is_regular_file() || ext == ".safetensors" || ext == ".bin") continue;
      if (e.path().filename() == "config.json" && o.config_edits.count(part)) {
        auto config = read_json_file(e.path().string());
        config.update(o.config_edits.at(part));
        write_file_atomic((tmp / part / "config.json").string(), config.dump(2) + "\n");
      } else {
        fs::copy_file(e.path(), tmp / part / e.path().filename());
      }
    }
  }
  for (const auto& part : parts) {
    // diffusers names a transformers model's weights model.safetensors and its own models' the long name.
    const bool transformers = part.name.rfind("text_encoder", 0) == 0;
    fs::create_directories(tmp / part.name);
    save_module_weights(*part.module,
                        (tmp / part.name / (transformers ? "model.safetensors" : "diffusion_pytorch_model.safetensors"))
                            .string(),
                        o.dtype, o.metadata);
  }
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
}

}  // namespace prtkl
