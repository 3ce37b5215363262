// `prtkl generate`: text (or a word, interpreted as the page does) to image in the model's style, with a progress
// bar; the PNG carries AUTOMATIC1111-style parameters, --particles writes the page's particle set beside it.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>

#include "adapters/adapter_setup.h"
#include "adapters/style.h"
#include "cli/cli_util.h"
#include "cli/load_flags.h"
#include "cli/particle_file.h"
#include "cli/progress_bar.h"
#include "cli/sampling_flags.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/image.h"
#include "core/runtime.h"
#include "diffusion/models_folder.h"
#include "diffusion/pipeline.h"
#include "diffusion/scheduler.h"
#include "interpret/interpreter.h"

namespace prtkl::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, negative, out = "out.png";
  std::string style, word, particles;
  LoadFlags load;
  SamplingFlags sampling;
  std::vector<std::string> loras, embeddings;
  int64_t width = 0, height = 0, num_images = 1, seed = -1;
};

// out.png for one image; out-0.png, out-1.png, ... for several.
std::string output_path(const std::string& out, int64_t i, int64_t n) {
  if (n == 1) return out;
  namespace fs = std::filesystem;
  fs::path p(out);
  return (p.parent_path() / (p.stem().string() + "-" + std::to_string(i) + p.extension().string())).string();
}

// What the model is asked for: the prompt (or the word's interpretation for this model) in the style's template,
// and the adapters of the command line plus the style's.
struct Drawing {
  std::string prompt, negative;
  bool negative_given = false;
  std::vector<std::string> loras, embeddings;
  SamplingDefaults sampling;  // the flags, the rest from the model's prtkl.json
};

Drawing drawing(const GenerateArgs& a, bool negative_given) {
  Drawing d{a.prompt, a.negative, negative_given, a.loras, a.embeddings};
  const auto model_path = find_in_models(a.model);
  std::error_code ec;
  // A model that is not there is the loader's error, with its own message.
  const auto model_prompt = std::filesystem::exists(model_path, ec) ? load_model_prompt(model_path) : ModelPrompt{};
  d.sampling = a.sampling.filled(model_prompt.sampling);
  if (!d.sampling.lora.empty()) {
    d.loras.insert(d.loras.begin(), d.sampling.lora);
    std::cerr << "sampling adapter " << d.sampling.lora << " (the model's, for its " << d.sampling.sampler
              << " sampler)\n";
  }
  const auto style = resolve_style(a.style.empty() ? model_prompt.default_style : a.style, model_path);
  if (!a.word.empty()) {
    const auto r = Interpreter::create({}, model_prompt).interpret(a.word);  // offline (serve's default), no cache
    std::cerr << "word " << r.word << ": " << r.scene << "\n";
    d.prompt = r.prompt;
    if (!negative_given) d.negative = r.negative_prompt, d.negative_given = !r.negative_prompt.empty();
  }
  if (style) {
    if (!style->lora.empty()) d.loras.push_back(style->lora_spec());
    if (!style->embeddings.empty()) d.embeddings.push_back(style->embeddings);
    d.prompt = style->wrap(d.prompt);
    std::cerr << "style " << style->name << ": " << d.prompt << "\n";
  }
  return d;
}

void run(const GenerateArgs& a, bool negative_given) {
  set_threads(a.load.threads);
  auto lo = load_options(a.load);
  // One image set per process: the UNet and the VAE are read when their stage starts and freed after it
  // (p.release_stages), so peak memory is the largest stage instead of the whole model.
  lo.deferred = {Component::UNet, Component::Vae};
  if (a.seed < -1) fail("--seed must be >= 0 (or -1 for a random seed)");

  const auto d = drawing(a, negative_given);  // before the (slow) model load: an unknown style fails at once

  GenerateParams p;
  p.prompt = d.prompt;
  p.negative_prompt = d.negative;
  p.has_negative_prompt = d.negative_given;
  p.steps = d.sampling.steps;
  p.guidance_scale = d.sampling.cfg;
  p.sampler = d.sampling.sampler;
  p.width = a.width;
  p.height = a.height;
  p.num_images = a.num_images;
  p.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}() & 0xffffffffu;
  p.release_stages = true;
  const auto samplers = scheduler_names();  // reject an unknown sampler before the (slow) model load
  if (std::find(samplers.begin(), samplers.end(), p.sampler) == samplers.end())
    fail("--sampler ", p.sampler, ": unknown sampler (known: ", scheduler_list(", "), ")");

  std::cerr << "loading " << a.model << "\n";
  const auto load_start = std::chrono::steady_clock::now();
  auto model = load_model(a.model, lo);  // the text encoders (UNet and VAE load when their stages start)
  if (a.load.threads == kAutoThreads) set_threads(threads_for_unet(model.unet_config, model.dtype));
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  for (const auto& w : model.warnings) std::cerr << "warning: " << w << "\n";
  const auto adapters = apply_adapters(model, d.loras, d.embeddings);
  for (const auto& w : adapters.warnings) std::cerr << "warning: " << w << "\n";
  for (size_t i = 0; i < a.embeddings.size(); ++i)
    std::cerr << "embedding " << a.embeddings[i] << ": write " << adapters.triggers[i] << " in the prompt\n";
  StableDiffusionPipeline pipe(model);
  p = pipe.resolve(p);
  std::cerr << "seed " << p.seed << ", " << p.width << "x" << p.height << ", " << p.steps << " steps\n";

  const size_t warned = model.warnings.size();
  ProgressBar bar("denoise");
  auto result = pipe.generate(p, [&](const StepEvent& e) { bar.update(e.step, e.total); });
  bar.finish();
  for (size_t i = warned; i < model.warnings.size(); ++i) std::cerr << "warning: " << model.warnings[i] << "\n";
  for (const auto& n : result.notices) std::cerr << "note: " << n << "\n";
  std::cerr << std::fixed << std::setprecision(2) << "load text encoders " << load_seconds << " s, encode "
            << result.encode_seconds << " s, load UNet/VAE "
            << result.load_seconds << " s, denoise " << result.denoise_seconds << " s ("
            << result.denoise_seconds / p.steps << " s/step), decode " << result.decode_seconds << " s\n";
  const auto parameters = a1111_parameters(p, result.sampler_display_name, model.name);
  const auto images = to_images(result.images);
  for (int64_t i = 0; i < p.num_images; ++i) {
    std::string text = parameters;
    if (p.num_images > 1) text += ", Batch size: " + std::to_string(p.num_images) + ", Batch pos: " + std::to_string(i);
    const auto path = output_path(a.out, i, p.num_images);
    write_png(path, images[i], {{"parameters", text}});
    std::cout << path << "\n";
  }
  // The first picture's particles, sampled as `prtkl serve` samples a word's picture for the page.
  if (!a.particles.empty()) std::cerr << write_particle_file(images[0], a.particles, 8000, p.seed) << "\n";
}

RegisterSubcommand reg("generate", [](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand("generate", "Generate an image from a text prompt");
  sub->add_option("--model,-m", a->model, "diffusers folder or single-file .safetensors checkpoint (default: the bundled model)");
  auto* prompt = sub->add_option("--prompt,-p", a->prompt, "what to draw");
  sub->add_option("--word", a->word, "a word to interpret for the model first, as the web page does")
      ->excludes(prompt);
  sub->add_option("--style", a->style, kStyleHelp);
  sub->add_option("--particles", a->particles, "also write the first picture's particle set (.bin or .json)");
  auto* neg = sub->add_option("--negative,-n", a->negative, "negative prompt");
  add_sampling_flags(sub, a->sampling, SamplingDefaults{}, "the model's prtkl.json \"sampling\"");
  sub->add_option("--seed,-s", a->seed, "seed (-1: random)")->capture_default_str();
  sub->add_option("--width,-W", a->width, "multiple of 8 (default: the model's native size)");
  sub->add_option("--height,-H", a->height, "multiple of 8 (default: the model's native size)");
  sub->add_option("--num-images", a->num_images, "images per prompt")->capture_default_str();
  sub->add_option("--out,-o", a->out, "PNG file")->capture_default_str();
  add_load_flags(sub, a->load);
  sub->add_option("--lora", a->loras, "LoRA file (diffusers/PEFT or kohya), optionally FILE:scale; repeatable");
  sub->add_option("--embeddings", a->embeddings, "textual-inversion embeddings (pivotal clip_l/clip_g, A1111); repeatable");
  sub->callback([a, neg] {
    if (a->prompt.empty() && a->word.empty()) fail("give --prompt TEXT or --word WORD");
    if (a->model.empty()) a->model = bundled_model_path();
    run(*a, neg->count() > 0);
  });
});

}  // namespace

}  // namespace prtkl::cli
