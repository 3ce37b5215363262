#include "cli/served_model.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "adapters/adapter_setup.h"
#include "adapters/style.h"
#include "cli/cli_util.h"
#include "core/error.h"
#include "diffusion/scheduler.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "diffusion/models_folder.h"

namespace prtkl::cli {

namespace fs = std::filesystem;

// The flags that shape the pictures: a heading of their own in the help.
constexpr const char* kDrawingGroup = "Drawing";

void add_model_flags(CLI::App* sub, ModelFlags& a) {
  sub->add_option("--model,-m", a.model, "diffusers folder or single-file .safetensors checkpoint (default: the bundled model)");
  sub->add_option("--data", a.data, "folder for jobs, images and the database (default ~/.local/share/prtkl)");
  sub->add_option("--max-pixels", a.max_pixels, "pixels one request may ask for (images × width × height)")
      ->capture_default_str();
  add_sampling_flags(sub, a.sampling, SamplingDefaults{}, "the model's prtkl.json \"sampling\"", kDrawingGroup);
  sub->add_option("--particles", a.particles, "particles per picture")->capture_default_str()->group(kDrawingGroup);
  sub->add_option("--provider", a.providers, "interpretation providers, first tried first (default offline)")
      ->group(kDrawingGroup);
  sub->add_option("--interpret-config", a.interpret_config, "JSON config for interpretation (docs/prtkl-json.md)")
      ->group(kDrawingGroup);
  sub->add_option("--style", a.style, kStyleHelp)->group(kDrawingGroup);
  sub->add_option("--lora", a.loras, "LoRA file, optionally FILE:scale; repeatable")->group(kDrawingGroup);
  sub->add_option("--embeddings", a.embeddings, "textual-inversion embeddings; repeatable")->group(kDrawingGroup);
  add_load_flags(sub, a.load, kDrawingGroup);
}

std::vector<std::string> drawing_flags_given(const CLI::App* sub) {
  std::vector<std::string> given;
  for (const auto* opt : sub->get_options([](const CLI::Option* o) { return o->get_group() == kDrawingGroup; }))
    if (opt->count() > 0) given.push_back(opt->get_name());
  return given;
}

std::string data_dir(const ModelFlags& a) {
  if (!a.data.empty()) return a.data;
  if (const char* d = std::getenv("PRTKL_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return (fs::path(x) / "prtkl").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".local" / "share" / "prtkl").string();
}

server::ServedModel load_served_model(const ModelFlags& a, const std::string& name, bool as_started) {
  const auto data = data_dir(a);
  // The style first: an unknown name fails before the (slow) model load.
  const auto model_path = find_in_models(name);
  auto model_prompt = load_model_prompt(model_path);
  std::vector<std::string> style_warnings;
  const auto style = resolve_style(as_started && !a.style.empty() ? a.style : model_prompt.default_style, model_path);
  auto styles = load_style_catalog(model_path, style, style_warnings);
  for (const auto& w : style_warnings) std::cerr << "warning: " << w << "\n";

  InterpreterOptions interpret_options;
  if (!a.interpret_config.empty())
    interpret_options = parse_interpreter_options(read_json_file(a.interpret_config), a.interpret_config);
  if (!a.providers.empty()) interpret_options.providers = split_commas(a.providers);
  if (interpret_options.cache_path.empty()) interpret_options.cache_path = (fs::path(data) / "interpret.sqlite").string();

  server::RenderSettings settings;
  const auto sampling = a.sampling.filled(model_prompt.sampling);
  settings.steps = sampling.steps;
  settings.guidance_scale = sampling.cfg;
  settings.sampler = sampling.sampler;
  settings.particle_count = a.particles;
  settings.data_dir = data;
  settings.max_pixels = a.max_pixels;

  auto lo = load_options(a.load);
  if (!as_started) lo.config_dir.clear(), lo.vae_path.clear();  // another model is served as it is
  std::cerr << "loading " << name << "\n";
  server::ServedModel served;
  served.model = std::make_unique<StableDiffusionModel>(load_model(name, lo));
  if (a.load.threads == kAutoThreads) set_threads(threads_for_unet(served.model->unet_config, served.model->dtype));
  for (const auto& w : served.model->warnings) std::cerr << "warning: " << w << "\n";
  // The model's own sampling adapter (an LCM-LoRA) when it serves with that sampler, under the command's LoRAs.
  std::vector<std::string> loras = as_started ? a.loras : std::vector<std::string>{};
  if (!sampling.lora.empty()) loras.insert(loras.begin(), sampling.lora);
  const auto adapters = apply_adapters(*served.model, loras, as_started ? a.embeddings : std::vector<std::string>{});
  for (const auto& w : adapters.warnings) std::cerr << "warning: " << w << "\n";
  served.id = adapters.id + (as_started && !a.load.vae.empty() ? "+vae:" + fs::path(a.load.vae).stem().string() : "");
  served.interpreter = std::make_unique<Interpreter>(Interpreter::create(interpret_options, std::move(model_prompt)));
  std::cerr << "style " << styles.default_name << " (known:";
  for (const auto& n : styles.names()) std::cerr << " " << n;
  std::cerr << ")\n";
  served.renderer =
      std::make_unique<server::PipelineRenderer>(*served.model, *served.interpreter, settings, std::move(styles));
  return served;
}

}  // namespace prtkl::cli
