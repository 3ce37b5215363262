#include "diffusion/model_loader.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/resources.h"
#include "core/safetensors.h"
#include "diffusion/checkpoint_keys.h"
#include "diffusion/models_folder.h"
#include "models/layers.h"
#include "models/weights.h"
#include "text/clip_vocab.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

bool has(const SafeTensors& st, const std::string& key) { return st.contains(key); }

ModelFamily family_from_index(const Config& index) {
  const auto cls = index.get<std::string>("_class_name");
  if (cls == "StableDiffusionPipeline") return ModelFamily::SD15;
  if (cls == "StableDiffusionXLPipeline") return ModelFamily::SDXL;
  fail(index.source(), ": pipeline '", cls,
       "' is not supported (supported: StableDiffusionPipeline, StableDiffusionXLPipeline)");
}

// Detects the family of a single-file checkpoint from its keys.
ModelFamily family_from_keys(const SafeTensors& st) {
  const bool unet = has(st, "model.diffusion_model.input_blocks.0.0.weight");
  if (has(st, "double_blocks.0.img_attn.qkv.weight") || has(st, "model.diffusion_model.double_blocks.0.img_attn.qkv.weight"))
    fail(st.path(), ": this is a FLUX checkpoint; only Stable Diffusion 1.x and SDXL are supported");
  if (has(st, "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"))
    fail(st.path(), ": this is an SD3 checkpoint; only Stable Diffusion 1.x and SDXL are supported");
  if (!unet)
    fail(st.path(), ": not a Stable Diffusion checkpoint (no UNet under 'model.diffusion_model.')");
  if (has(st, "conditioner.embedders.1.model.ln_final.weight") &&
      (has(st, "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight")))
    return ModelFamily::SDXL;
  if (has(st, "conditioner.embedders.0.model.ln_final.weight"))
    fail(st.path(), ": this is an SDXL refiner checkpoint; only SDXL base and SD 1.x are supported");
  if (has(st, "cond_stage_model.model.ln_final.weight"))
    fail(st.path(), ": this is a Stable Diffusion 2.x checkpoint; only SD 1.x and SDXL are supported");
  if (has(st, "cond_stage_model.transformer.text_model.final_layer_norm.weight") ||
      has(st, "cond_stage_model.transformer.final_layer_norm.weight"))
    return ModelFamily::SD15;
  fail(st.path(), ": unrecognised checkpoint family (no known text encoder keys)");
}

// The weights of one diffusers component folder: a single file, a variant, or shards with an index.
std::vector<std::string> component_weight_files(const fs::path& dir, const std::string& variant) {
  for (const std::string stem : {"diffusion_pytorch_model", "model"}) {
    std::vector<std::string> names;
    if (!variant.empty()) names.push_back(stem + "." + variant + ".safetensors");
    names.push_back(stem + ".safetensors");
    if (variant.empty()) {
      // diffusers' repos often ship only the fp16 variant of a component.
      names.push_back(stem + ".fp16.safetensors");
      names.push_back(stem + ".bf16.safetensors");
    }
    for (const auto& n : names)
      if (fs::exists(dir / n)) return {(dir / n).string()};
    for (const auto& n : names) {
      const fs::path index = dir / (n + ".index.json");
      if (!fs::exists(index)) continue;
      const auto j = read_json_file(index.string());
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        fail(index.string(), ": field 'weight_map' is missing");
      std::set<std::string> shards;
      for (const auto& [_, f] : j["weight_map"].items()) shards.insert(f.get<std::string>());
      std::vector<std::string> files;
      for (const auto& s : shards) files.push_back((dir / s).string());
      return files;
    }
  }
  if (fs::exists(dir / "diffusion_pytorch_model.bin") || fs::exists(dir / "pytorch_model.bin"))
    fail(dir.string(), ": only .bin (pickle) weights found; convert them to safetensors (pickle is not loaded for safety)");
  fail(dir.string(), ": no safetensors weights found");
}

TensorMap read_all(const std::vector<std::string>& files) {
  TensorMap out;
  for (const auto& f : files) {
    auto st = SafeTensors::open(f);
    for (const auto& n : st.names()) out[n] = st.get(n);
  }
  return out;
}

std::string weights_source(const std::vector<std::string>& files) {
  return files.size() == 1 ? files.front() : files.front() + " (+" + std::to_string(files.size() - 1) + " shards)";
}

Config component_config(const fs::path& root, const std::string& name) {
  const fs::path p = root / name / "config.json";
  if (!fs::exists(p)) fail(root.string(), ": component '", name, "' has no ", name, "/config.json");
  return Config::load(p.string());
}

// A config folder without tokenizer folders (prtkl's configs/, most --config folders) gets OpenAI CLIP's, which
// SD 1.x and both SDXL encoders use; SDXL's second pads with "!".
ClipTokenizer load_tokenizer(const fs::path& root, const std::string& name) {
  if (fs::exists(root / name)) return ClipTokenizer::load((root / name).string());
  return openai_clip_tokenizer({name == "tokenizer_2" ? "!" : "<|endoftext|>"});
}

// .ckpt / .pt / .pth / .bin checkpoints are Python pickles: loading one runs whatever code it carries.
void refuse_pickle(const fs::path& p) {
  const auto ext = p.extension().string();
  if (ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin")
    fail(p.string(), ": a pickle checkpoint can run code when it is loaded, so prtkl does not read it; use the "
         ".safetensors release of the model, or convert it once in a sandbox (e.g. with diffusers' conversion scripts)");
}

// Module parameters and buffers, by name.
std::vector<std::string> module_keys(torch::nn::Module& m) {
  std::vector<std::string> keys;
  for (const auto& p : m.named_parameters(true)) keys.push_back(p.key());
  for (const auto& b : m.named_buffers(true)) keys.push_back(b.key());
  return keys;
}

// Collects the tensors of one module from a single-file checkpoint, marking the keys used.
template <typename KeyFn>
TensorMap gather(const SafeTensors& st, torch::nn::Module& module, const std::string& prefix, KeyFn original,
                 std::set<std::string>& used) {
  TensorMap out;
  for (const auto& key : module_keys(module)) {
    const OriginalKey ok = original(key);
    const std::string full = prefix + ok.key;
    if (!st.contains(full)) fail(st.path(), ": tensor '", full, "' (for ", key, ") is missing");
    used.insert(full);
    out[key] = from_original(st.get(full), ok.transform);
  }
  return out;
}

// Components are built to be loaded: their parameters start uninitialised, already in the dtype and on the device
// they end in, so loading casts each tensor once, straight from the mapped file (models/layers.h).
template <typename Module>
Module build_to_load(const StableDiffusionModel& model, torch::Dtype dtype, const Config& config) {
  SkipInit skip(torch::TensorOptions().dtype(dtype).device(model.device));
  return Module(config);
}

void finish(torch::nn::Module& m, const StableDiffusionModel& model, torch::Dtype dtype) {
  m.to(model.device, dtype);
  m.eval();
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}

// Reads the weights of one component ("unet", "vae", "text_encoder", "text_encoder_2") into its module, from the
// component's folder or, for a single-file model, from its prefix in the open file; marks the keys it used.
void read_component(const StableDiffusionModel& model, const SafeTensors* single_file, const std::string& name,
                    torch::nn::Module& m, std::set<std::string>& used) {
  if (!single_file) {
    const auto files = component_weight_files(fs::path(model.path) / name, model.options.variant);
    load_weights(m, read_all(files), weights_source(files));
    return;
  }
  const SafeTensors& st = *single_file;
  auto same = [](const std::string& k) { return OriginalKey{k}; };
  TensorMap tensors;
  if (name == "unet") {
    tensors = gather(st, m, CheckpointPrefixes::unet,
                     [&](const std::string& k) { return unet_original_key(k, model.unet_config); }, used);
  } else if (name == "vae") {
    tensors = gather(st, m, CheckpointPrefixes::vae,
                     [&](const std::string& k) { return vae_original_key(k, model.vae_config); }, used);
  } else if (name == "text_encoder" && model.family == ModelFamily::SD15) {
    // Older SD 1.x files store the transformers CLIP without the `text_model.` level.
    const std::string prefix = CheckpointPrefixes::sd15_text_encoder;
    auto strip = [](const std::string& k) {
      return OriginalKey{k.rfind("text_model.", 0) == 0 ? k.substr(11) : k};
    };
    tensors = st.contains(prefix + "text_model.final_layer_norm.weight") ? gather(st, m, prefix, same, used)
                                                                          : gather(st, m, prefix, strip, used);
  } else if (name == "text_encoder") {
    tensors = gather(st, m, CheckpointPrefixes::sdxl_text_encoder, same, used);
  } else {
    tensors = gather(st, m, CheckpointPrefixes::sdxl_text_encoder_2, open_clip_original_key, used);
  }
  load_weights(m, std::move(tensors), model.path + " (" + name + ")");
}

// A VAE from its own file or folder (LoadOptions::vae_path). Files come with diffusers names (the fp16-fixed SDXL
// VAE, diffusers' vae/ folders) or the original ones (vae-ft-mse-840000, sdxl_vae.safetensors), with or without
// the `first_stage_model.` prefix of a whole checkpoint.
void read_vae_file(const StableDiffusionModel& model, torch::nn::Module& vae) {
  const fs::path p = find_in_models(model.options.vae_path, "vae");
  if (!fs::exists(p)) fail(p.string(), ": no such VAE file or folder (nor under ", models_dir(), "/vae)");
  refuse_pickle(p);
  if (fs::is_directory(p)) {
    const fs::path dir = fs::exists(p / "vae" / "config.json") ? p / "vae" : p;
    const auto files = component_weight_files(dir, "");
    load_weights(vae, read_all(files), weights_source(files));
    return;
  }
  const auto st = SafeTensors::open(p.string());
  if (st.contains("decoder.mid_block.resnets.0.conv1.weight")) {
    load_weights(vae, st.all(), p.string());
    return;
  }
  for (const std::string prefix : {"", CheckpointPrefixes::vae})
    if (st.contains(prefix + "decoder.mid.block_1.conv1.weight")) {
      std::set<std::string> used;
      auto tensors = gather(st, vae, prefix, [&](const std::string& k) { return vae_original_key(k, model.vae_config); },
                            used);
      load_weights(vae, std::move(tensors), p.string());
      return;
    }
  fail(p.string(), ": not a VAE (neither diffusers names like 'decoder.mid_block.resnets.0.conv1.weight' nor the "
       "original 'decoder.mid.block_1.conv1.weight', with or without 'first_stage_model.')");
}

void load_part(StableDiffusionModel& model, const SafeTensors* single_file, Component part,
               std::set<std::string>& used) {
  if (part == Component::UNet) {
    auto unet = build_to_load<UNet2DConditionModel>(model, model.dtype, model.unet_config);
    read_component(model, single_file, "unet", *unet, used);
    finish(*unet, model, model.dtype);
    model.unet = unet;
    return;
  }
  // The SDXL VAE overflows in fp16: configs say force_upcast, so it stays in fp32.
  const bool upcast = model.dtype == torch::kFloat16 && AutoencoderKLImpl::force_upcast(model.vae_config);
  const auto dtype = model.options.vae_dtype.value_or(upcast ? torch::kFloat32 : model.dtype);
  auto vae = build_to_load<AutoencoderKL>(model, dtype, model.vae_config);
  if (!model.options.vae_path.empty())
    read_vae_file(model, *vae);
  else if (single_file && !single_file->contains(std::string(CheckpointPrefixes::vae) + "decoder.conv_out.weight"))
    fail(model.path, ": this checkpoint was saved without its VAE (no 'first_stage_model.' tensors): pass one with "
         "--vae FILE");
  else
    read_component(model, single_file, "vae", *vae, used);
  finish(*vae, model, dtype);
  model.vae = vae;
}

// The folder with model_index.json and the component configs (and usually the tokenizers). Single-file
// checkpoints carry none: --config names one, else the folder beside the file with its stem, else the published
// configs of the file's family that prtkl ships (configs/sd15, configs/sdxl).
fs::path find_config_root(const StableDiffusionModel& model) {
  if (model.format == "diffusers") return model.path;
  const fs::path file(model.path);
  fs::path root = model.options.config_dir;
  if (root.empty()) {
    root = file.parent_path() / file.stem();
    if (!fs::exists(root / "model_index.json")) root = resource_path("configs/" + family_name(model.family));
  }
  if (!fs::exists(root / "model_index.json"))
    fail(model.path, ": a single-file checkpoint needs configs: pass --config DIR (a diffusers folder of the ",
         family_name(model.family), " family); looked for ", (root / "model_index.json").string());
  const auto index = Config::load((root / "model_index.json").string());
  if (family_from_index(index) != model.family)
    fail(model.path, ": checkpoint is ", family_name(model.family), " but config folder ", root.string(), " is ",
         family_name(family_from_index(index)));
  return root;
}

// Tokenizers, text encoders (built here), the UNet and VAE configs and the scheduler config.
void read_configs(StableDiffusionModel& model, const fs::path& root) {
  const auto index = Config::load((root / "model_index.json").string());
  model.force_zeros_for_empty_prompt = index.get_or<bool>("force_zeros_for_empty_prompt", false);
  model.tokenizer = load_tokenizer(root, "tokenizer");
  model.text_encoder = build_to_load<ClipTextModel>(model, model.dtype, component_config(root, "text_encoder"));
  if (model.family == ModelFamily::SDXL) {
    model.tokenizer_2 = load_tokenizer(root, "tokenizer_2");
    model.text_encoder_2 = build_to_load<ClipTextModel>(model, model.dtype, component_config(root, "text_encoder_2"));
  }
  // Prompts are padded to the tokenizer's window, so it must fit the encoder's positions, and SDXL lays both
  // encoders' states side by side, so both windows must agree.
  const auto check_window = [&](const ClipTokenizer& tok, const char* name, const ClipTextModel& te,
                                const char* encoder) {
    const auto positions = te->max_positions();
    if (tok.window() > positions)
      fail(root.string(), ": ", name, " pads prompts to ", tok.window(), " tokens (model_max_length) but ", encoder,
           " has ", positions, " positions");
  };
  check_window(*model.tokenizer, "tokenizer", model.text_encoder, "text_encoder");
  if (model.tokenizer_2) {
    check_window(*model.tokenizer_2, "tokenizer_2", model.text_encoder_2, "text_encoder_2");
    if (model.tokenizer_2->window() != model.tokenizer->window())
      fail(root.string(), ": tokenizer and tokenizer_2 pad prompts to different lengths (", model.tokenizer->window(),
           " and ", model.tokenizer_2->window(), ")");
  }
  model.unet_config = component_config(root, "unet");
  model.vae_config = component_config(root, "vae");
  const fs::path sched = root / "scheduler" / "scheduler_config.json";
  if (!fs::exists(sched)) fail(root.string(), ": scheduler/scheduler_config.json is missing");
  model.scheduler_config = Config::load(sched.string());
}

// Keys under a component prefix that nothing used are worth a warning; the rest (EMA weights, alphas_cumprod,
// position_ids buffers) are what real checkpoints carry and are ignored. Parts not loaded yet are not checked.
void warn_unused_keys(StableDiffusionModel& model, const SafeTensors& st, const std::set<std::string>& used) {
  std::vector<std::string> prefixes = {CheckpointPrefixes::sd15_text_encoder, CheckpointPrefixes::sdxl_text_encoder,
                                       CheckpointPrefixes::sdxl_text_encoder_2};
  if (is_loaded(model, Component::UNet)) prefixes.push_back(CheckpointPrefixes::unet);
  if (is_loaded(model, Component::Vae)) prefixes.push_back(CheckpointPrefixes::vae);
  size_t unused = 0;
  std::string example;
  for (const auto& n : st.names()) {
    if (used.count(n) || n.find("position_ids") != std::string::npos) continue;
    for (const auto& p : prefixes)
      if (n.rfind(p, 0) == 0) {
        if (!unused++) example = n;
        break;
      }
  }
  if (unused)
    model.warnings.push_back(model.path + ": " + std::to_string(unused) + " tensor(s) not used, e.g. '" + example + "'");
}

}  // namespace

std::string family_name(ModelFamily family) { return family == ModelFamily::SDXL ? "sdxl" : "sd15"; }

bool is_loaded(const StableDiffusionModel& model, Component part) {
  return part == Component::UNet ? !model.unet.is_empty() : !model.vae.is_empty();
}

void load_component(StableDiffusionModel& model, Component part) {
  if (is_loaded(model, part)) return;
  std::optional<SafeTensors> single_file;
  if (model.format == "single-file") single_file = SafeTensors::open(model.path);
  std::set<std::string> used;
  load_part(model, single_file ? &*single_file : nullptr, part, used);
  for (const auto& hook : model.on_load) hook(model, part);
}

void release_component(StableDiffusionModel& model, Component part) {
  if (part == Component::UNet) model.unet = UNet2DConditionModel(nullptr);
  else model.vae = AutoencoderKL(nullptr);
}

StableDiffusionModel load_model(const std::string& name, const LoadOptions& options) {
  const auto path = find_in_models(name);
  StableDiffusionModel model;
  model.path = path;
  model.options = options;
  model.device = options.device;
  model.dtype = options.dtype;
  const fs::path p(path);
  if (!fs::exists(p)) fail(path, ": no such file or folder (nor in the models folder ", models_dir(), ")");
  refuse_pickle(p);
  std::optional<SafeTensors> single_file;
  if (fs::is_directory(p)) {
    if (!fs::exists(p / "model_index.json"))
      fail(path, ": not a diffusers model folder (no model_index.json)");
    model.format = "diffusers";
    model.name = p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
    model.family = family_from_index(Config::load((p / "model_index.json").string()));
  } else {
    model.format = "single-file";
    model.name = p.stem().string();
    single_file = SafeTensors::open(path);
    model.family = family_from_keys(*single_file);
  }
  read_configs(model, find_config_root(model));
  const SafeTensors* st = single_file ? &*single_file : nullptr;

  std::set<std::string> used;
  for (const auto part : {Component::UNet, Component::Vae})
    if (!options.deferred.count(part)) load_part(model, st, part, used);
  read_component(model, st, "text_encoder", *model.text_encoder, used);
  finish(*model.text_encoder, model, model.dtype);
  if (model.text_encoder_2) {
    read_component(model, st, "text_encoder_2", *model.text_encoder_2, used);
    finish(*model.text_encoder_2, model, model.dtype);
  }
  if (st) warn_unused_keys(model, *st, used);
  return model;
}

ModelInfo inspect_model(const std::string& name) {
  const auto path = find_in_models(name);
  ModelInfo info;
  info.path = path;
  const fs::path p(path);
  if (!fs::exists(p)) fail(path, ": no such file or folder (nor in the models folder ", models_dir(), ")");
  auto count = [](ComponentInfo& c, const SafeTensors& st, const std::vector<std::string>& names) {
    for (const auto& n : names) {
      const auto& ti = st.info(n);
      c.dtypes[ti.dtype]++;
      int64_t numel = 1;
      for (auto d : ti.shape) numel *= d;
      c.parameters += numel;
    }
  };
  if (fs::is_directory(p)) {
    if (!fs::exists(p / "model_index.json")) fail(path, ": not a diffusers model folder (no model_index.json)");
    info.format = "diffusers";
    const auto index = Config::load((p / "model_index.json").string());
    info.family = family_from_index(index);
    for (const std::string name : {"unet", "vae", "text_encoder", "text_encoder_2"}) {
      if (!index.has(name) || !index.json().at(name).is_array() || index.json().at(name)[1].is_null()) continue;
      ComponentInfo c;
      c.name = name;
      c.class_name = index.json().at(name)[1].get<std::string>();
      c.files = component_weight_files(p / name, "");
      for (const auto& f : c.files) {
        auto st = SafeTensors::open(f);
        count(c, st, st.names());
      }
      info.components.push_back(c);
    }
    return info;
  }
  info.format = "single-file";
  auto st = SafeTensors::open(path);
  info.family = family_from_keys(st);
  const std::vector<std::pair<std::string, std::string>> parts =
      info.family == ModelFamily::SDXL
          ? std::vector<std::pair<std::string, std::string>>{{"unet", CheckpointPrefixes::unet},
                                                             {"vae", CheckpointPrefixes::vae},
                                                             {"text_encoder", CheckpointPrefixes::sdxl_text_encoder},
                                                             {"text_encoder_2", CheckpointPrefixes::sdxl_text_encoder_2}}
          : std::vector<std::pair<std::string, std::string>>{{"unet", CheckpointPrefixes::unet},
                                                             {"vae", CheckpointPrefixes::vae},
                                                             {"text_encoder", CheckpointPrefixes::sd15_text_encoder}};
  const std::map<std::string, std::string> classes = {{"unet", "UNet2DConditionModel"},
                                                      {"vae", "AutoencoderKL"},
                                                      {"text_encoder", "CLIPTextModel"},
                                                      {"text_encoder_2", "CLIPTextModelWithProjection"}};
  for (const auto& [name, prefix] : parts) {
    ComponentInfo c;
    c.name = name;
    c.class_name = classes.at(name);
    c.files = {path};
    std::vector<std::string> names;
    for (const auto& n : st.names())
      if (n.rfind(prefix, 0) == 0 && n.find("position_ids") == std::string::npos) names.push_back(n);
    count(c, st, names);
    info.components.push_back(c);
  }
  return info;
}

}  // namespace prtkl
