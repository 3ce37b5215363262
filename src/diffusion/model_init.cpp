#include "diffusion/model_init.h"

#include <filesystem>

#include "core/error.h"
#include "core/json_config.h"
#include "diffusion/model_save.h"
#include "models/clip.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/clip_vocab.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

const Metadata kInitNote{{"prtkl.note", "random weights from prtkl model init"}};

// A tokenizer folder copied from `from`, or else OpenAI CLIP's (third_party/clip) with the given pad token.
void write_tokenizer(const std::string& from, const std::string& pad_token, const fs::path& to) {
  if (from.empty()) {
    const auto merges = openai_clip_merges_path();
    if (!fs::exists(merges)) fail(merges, ": CLIP's merges are missing: pass --tokenizer DIR or set PRTKL_HOME");
    write_clip_tokenizer(read_bpe_merges(merges), {pad_token}, to.string());
    return;
  }
  for (const char* f : {"vocab.json", "merges.txt"})
    if (!fs::exists(fs::path(from) / f)) fail(from, ": not a CLIP tokenizer folder (", f, " is missing)");
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from))
    if (e.is_regular_file()) fs::copy_file(e.path(), to / e.path().filename(), fs::copy_options::overwrite_existing);
}

}  // namespace

void init_model(const ModelInitOptions& o) {
  const fs::path root(o.config_root), out(o.out);
  if (!fs::exists(root / "model_index.json")) fail(o.config_root, ": no model_index.json");
  const auto index = read_json_file((root / "model_index.json").string());
  const bool xl = index.contains("text_encoder_2");
  fs::create_directories(out);
  fs::copy_file(root / "model_index.json", out / "model_index.json", fs::copy_options::overwrite_existing);
  for (const char* comp : {"unet", "vae", "text_encoder", "text_encoder_2", "scheduler"}) {
    if (!fs::exists(root / comp)) continue;
    fs::create_directories(out / comp);
    for (const auto& e : fs::directory_iterator(root / comp))
      if (e.path().extension() == ".json")
        fs::copy_file(e.path(), out / comp / e.path().filename(), fs::copy_options::overwrite_existing);
  }
  write_tokenizer(o.tokenizer, "<|endoftext|>", out / "tokenizer");
  if (xl) write_tokenizer(o.tokenizer_2.empty() ? o.tokenizer : o.tokenizer_2, "!", out / "tokenizer_2");

  // One component at a time, each from its own seed, so the peak is the largest component.
  uint64_t k = 0;
  auto seeded = [&] { torch::manual_seed(o.seed * 1000 + k++); };
  for (const char* comp : {"text_encoder", "text_encoder_2"}) {
    if (!fs::exists(out / comp / "config.json")) continue;
    seeded();
    ClipTextModel m(Config::load((out / comp / "config.json").string()));
    save_module_weights(*m, (out / comp / "model.safetensors").string(), o.dtype, kInitNote);
  }
  {
    seeded();
    AutoencoderKL vae(Config::load((out / "vae" / "config.json").string()));
    save_module_weights(*vae, (out / "vae" / "diffusion_pytorch_model.safetensors").string(), o.dtype, kInitNote);
  }
  seeded();
  UNet2DConditionModel unet(Config::load((out / "unet" / "config.json").string()));
  save_module_weights(*unet, (out / "unet" / "diffusion_pytorch_model.safetensors").string(), o.dtype, kInitNote);
}

}  // namespace prtkl
