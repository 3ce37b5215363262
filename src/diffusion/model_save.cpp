#include "diffusion/model_save.h"

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"

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
  const fs::path src(m.path);
  if (m.format != "diffusers" || !fs::exists(src / "model_index.json"))
    fail(m.path, ": saving a trained model needs a diffusers folder as the base (convert single files first)");
  if (m.family != ModelFamily::SD15) fail(m.path, ": saving full weights is implemented for the SD 1.x layout only");
  const fs::path final_dir(out), tmp(out + ".partial");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  fs::copy_file(src / "model_index.json", tmp / "model_index.json");
  for (const char* part : {"tokenizer", "scheduler", "unet", "vae", "text_encoder"}) {
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
  if (!m.unet || !m.vae || !m.text_encoder) fail(m.path, ": every part must be loaded to save the model");
  save_module_weights(*m.text_encoder, (tmp / "text_encoder" / "model.safetensors").string(), o.dtype, o.metadata);
  save_module_weights(*m.unet, (tmp / "unet" / "diffusion_pytorch_model.safetensors").string(), o.dtype, o.metadata);
  save_module_weights(*m.vae, (tmp / "vae" / "diffusion_pytorch_model.safetensors").string(), o.dtype, o.metadata);
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
}

}  // namespace prtkl
