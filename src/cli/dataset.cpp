// `prtkl dataset generate`: candidate images for a style dataset, N seeds per prompt, listed in
// candidates.jsonl for the curation page (`prtkl serve --curation DIR`), which exports the kept ones into a
// training folder.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "adapters/adapter_setup.h"
#include "cli/cli_util.h"
#include "cli/load_flags.h"
#include "cli/progress_bar.h"
#include "cli/sampling_flags.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "diffusion/pipeline.h"

namespace prtkl::cli {

namespace {

namespace fs = std::filesystem;

// Candidates are drawn the same way whatever the model's own defaults: the recipes' data sets stay reproducible.
const SamplingDefaults kCandidateSampling{"euler", 20, 7.0, ""};

struct DatasetArgs {
  std::string model, prompts, out, caption_prefix;
  std::vector<std::string> loras, embeddings;
  LoadFlags load;
  int variations = 4;
  SamplingFlags sampling;  // unset: kCandidateSampling
  int64_t width = 0, height = 0, seed = 0;
};

void run(const DatasetArgs& a) {
  if (a.variations < 1) fail("--variations must be at least 1");
  const auto sampling = a.sampling.filled(kCandidateSampling);
  const auto prompts = read_prompts(a.prompts);
  set_threads(a.load.threads);
  auto model = load_model(a.model, load_options(a.load));
  if (a.load.threads == kAutoThreads) set_threads(threads_for_unet(model.unet_config, model.dtype));
  for (const auto& w : apply_adapters(model, a.loras, a.embeddings).warnings) std::cerr << "warning: " << w << "\n";
  StableDiffusionPipeline pipe(model);
  fs::create_directories(a.out);

  std::string list;
  ProgressBar bar("candidates");
  const int64_t total = static_cast<int64_t>(prompts.size()) * a.variations;
  int64_t index = 0;
  for (const auto& prompt : prompts) {
    for (int v = 0; v < a.variations; ++v, ++index) {
      GenerateParams p;
      p.prompt = prompt;
      p.steps = sampling.steps;
      p.guidance_scale = sampling.cfg;
      p.sampler = sampling.sampler;
      p.width = a.width;
      p.height = a.height;
      p.seed = static_cast<uint64_t>(a.seed + index);
      p = pipe.resolve(p);
      const auto result = pipe.generate(p);
      std::ostringstream name;
      name << std::setw(4) << std::setfill('0') << index << ".png";
      write_png((fs::path(a.out) / name.str()).string(), to_images(result.images)[0],
                {{"parameters", a1111_parameters(p, result.sampler_display_name, model.name)}});
      const auto caption = a.caption_prefix.empty() ? prompt : a.caption_prefix + ", " + prompt;
      list += Json({{"file_name", name.str()}, {"text", caption}, {"prompt", prompt}, {"seed", p.seed}}).dump() + "\n";
      // Rewritten after every image, so an interrupted run still lists what it made.
      write_file_atomic((fs::path(a.out) / "candidates.jsonl").string(), list);
      bar.update(index + 1, total);
    }
  }
  bar.finish();
  std::cout << a.out << "/candidates.jsonl: " << total << " candidates; curate with: prtkl serve --model " << a.model
            << " --curation " << a.out << "\n";
}

RegisterSubcommand reg("dataset", [](CLI::App& app) {
  auto a = std::make_shared<DatasetArgs>();
  auto* dataset = app.add_subcommand("dataset", "Make and curate training data");
  dataset->require_subcommand(1);
  auto* sub = dataset->add_subcommand("generate", "Generate candidate images, N seeds per prompt");
  sub->add_option("--model,-m", a->model, "diffusers folder or single-file checkpoint")->required();
  sub->add_option("--prompts", a->prompts, "text file, one prompt per line")->required();
  sub->add_option("--out,-o", a->out, "output folder (candidates.jsonl + PNGs)")->required();
  sub->add_option("--variations", a->variations, "images per prompt")->capture_default_str();
  sub->add_option("--caption-prefix", a->caption_prefix, "prepended to each caption, e.g. the trigger word");
  add_sampling_flags(sub, a->sampling, kCandidateSampling);
  sub->add_option("--seed", a->seed, "first seed; candidate i uses seed + i")->capture_default_str();
  sub->add_option("--width,-W", a->width, "width (default: the model's)");
  sub->add_option("--height,-H", a->height, "height (default: the model's)");
  sub->add_option("--lora", a->loras, "LoRA file, optionally FILE:scale; repeatable");
  sub->add_option("--embeddings", a->embeddings, "textual-inversion embeddings; repeatable");
  add_load_flags(sub, a->load);
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
