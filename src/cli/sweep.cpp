// `prtkl sweep`: every checkpoint of a training run × prompt × seed, rendered on one loaded base model
// (train/sweep.h), with a labelled contact sheet, sweep.json and index.html.
#include "train/sweep.h"

#include <algorithm>
#include <iostream>

#include "cli/cli_util.h"
#include "cli/load_flags.h"
#include "cli/progress_bar.h"
#include "cli/sampling_flags.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"

namespace prtkl::cli {

namespace {

struct SweepArgs {
  std::string run, prompts, seeds, model, out, checkpoints;
  LoadFlags load;
  SamplingFlags sampling;  // unset: the run's validation settings
  int64_t width = 0, height = 0;
  double lora_scale = 1.0;
};

std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const auto& s : split_commas(text)) {
    if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
      fail("--seeds: '", s, "' is not a seed (non-negative integers, comma-separated)");
    const auto seed = std::stoull(s);
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) fail("--seeds: seed ", seed, " is given twice");
    seeds.push_back(seed);
  }
  if (seeds.empty()) fail("--seeds: no seeds given (e.g. --seeds 1,2)");
  return seeds;
}

void run(const SweepArgs& a) {
  SweepRequest r;
  r.run = a.run;
  r.out = a.out;
  r.prompts = read_prompts(a.prompts);
  r.seeds = parse_seeds(a.seeds);
  r.model = a.model;
  if (a.sampling.steps != 0) r.steps = a.sampling.steps;
  if (a.sampling.cfg >= 0) r.cfg = a.sampling.cfg;
  if (!a.sampling.sampler.empty()) r.sampler = a.sampling.sampler;
  r.width = a.width;
  r.height = a.height;
  if (!a.checkpoints.empty()) {
    r.checkpoints = split_commas(a.checkpoints);
    if (r.checkpoints.empty()) fail("--checkpoints: no checkpoint names given");
  }
  r.lora_scale = a.lora_scale;
  r.load = load_options(a.load);
  r.threads = a.load.threads;
  ProgressBar bar("sweep");
  r.progress = [&](int64_t done, int64_t total, const std::string& checkpoint) { bar.update(done, total, checkpoint); };
  r.log = [](const std::string& line) { std::cerr << line << "\n"; };
  const auto result = run_sweep(r);
  bar.finish();
  std::cerr << result.rendered << " rendered, " << result.reused << " reused from validation images\n";
  std::cout << result.out.string() << "\n";
}

RegisterSubcommand reg("sweep", [](CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand("sweep", "Render every checkpoint of a training run × prompts × seeds");
  sub->add_option("--run", a->run, "training run folder (config.json, checkpoint-<step>/)")->required();
  sub->add_option("--prompts", a->prompts, "text file, one prompt a line (# comments, blank lines skipped)")
      ->required();
  sub->add_option("--seeds", a->seeds, "comma-separated seeds, e.g. 1,2")->required();
  sub->add_option("--model,-m", a->model, "base model (default: config.json \"model\")");
  add_sampling_flags(sub, a->sampling, SamplingDefaults{}, "the run's validation settings");
  sub->add_option("--width,-W", a->width, "multiple of 8 (default: the model's native size)");
  sub->add_option("--height,-H", a->height, "multiple of 8 (default: the model's native size)");
  sub->add_option("--checkpoints", a->checkpoints, "comma-separated subset, e.g. checkpoint-100,final");
  sub->add_option("--lora-scale", a->lora_scale, "LoRA scale")->capture_default_str();
  sub->add_option("--out,-o", a->out, "output folder (default: RUN/sweep)");
  add_load_flags(sub, a->load);
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
