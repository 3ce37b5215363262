// The models folder, as A1111 and ComfyUI users keep one: `--model NAME` also finds NAME (with or without
// .safetensors) under $PRTKL_MODELS (default ~/.local/share/prtkl/models), LoRAs under its lora/, embeddings
// under its embeddings/ and VAEs (--vae) under its vae/; `prtkl models` lists what is there.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace prtkl {

std::string models_dir();  // $PRTKL_MODELS, else $XDG_DATA_HOME/prtkl/models, else ~/.local/share/prtkl/models

// `name` as given when it exists, else the entry of models_dir()/`subdir` named `name` or `name`.safetensors;
// otherwise `name` unchanged (the loader then names it in its error).
std::string find_in_models(const std::string& name, const std::string& subdir = "");

struct ModelsEntry {
  std::string name, path, kind;  // kind: model, lora, embedding, vae
  std::string family, layout;    // models: sd15 / sdxl, diffusers / single-file
  std::string dtype;             // the dtype most of its tensors have
  int64_t bytes = 0;             // on disk
  std::string error;             // an entry that could not be read: why (it is listed anyway)
};
std::vector<ModelsEntry> list_models(const std::string& dir);

}  // namespace prtkl
