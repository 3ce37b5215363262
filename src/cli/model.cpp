// `prtkl model`: model utilities.
//   init --family sd15|sdxl --out DIR   the full-size architecture from the published configs in configs/ with
//                                       seeded random weights, for benchmarks (random weights cost what trained
//                                       ones do)
//   merge A B [C ...] --out OUT         the weighted sum of models of one architecture (diffusion/model_merge.h)
#include <iostream>

#include "cli/cli_util.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"
#include "diffusion/model_init.h"
#include "diffusion/model_merge.h"

namespace prtkl::cli {

namespace {

struct InitArgs {
  std::string family, out, dtype = "fp32", tokenizer, tokenizer_2, configs;
  uint64_t seed = 0;
};

void run(const InitArgs& a) {
  if (a.family != "sd15" && a.family != "sdxl") fail("--family must be sd15 or sdxl");
  ModelInitOptions o;
  o.config_root = a.configs.empty() ? resource_path("configs/" + a.family) : a.configs;
  o.tokenizer = a.tokenizer;
  o.tokenizer_2 = a.tokenizer_2;
  o.out = a.out;
  o.dtype = parse_dtype(a.dtype, torch::kCPU);
  o.seed = a.seed;
  std::cerr << "building " << a.family << " from " << o.config_root << " with random weights (seed " << a.seed << ")\n";
  init_model(o);
  std::cout << a.out << "\n";
}

void add_init(CLI::App& model) {
  auto a = std::make_shared<InitArgs>();
  auto* sub = model.add_subcommand("init", "A full-size SD 1.5 / SDXL diffusers folder with seeded random weights");
  sub->add_option("--family", a->family, "sd15 | sdxl")->required();
  sub->add_option("--out,-o", a->out, "output folder")->required();
  sub->add_option("--tokenizer", a->tokenizer, "tokenizer folder to copy (default: OpenAI CLIP's, third_party/clip)");
  sub->add_option("--tokenizer-2", a->tokenizer_2, "SDXL second tokenizer folder (default: --tokenizer)");
  sub->add_option("--dtype", a->dtype, "fp32 | fp16 | bf16")->capture_default_str();
  sub->add_option("--seed", a->seed, "weights seed")->capture_default_str();
  sub->add_option("--configs", a->configs, "config folder (default: configs/<family> of the source tree)");
  sub->callback([a] { run(*a); });
}

struct MergeArgs {
  std::vector<std::string> models;
  std::vector<double> weights;
  std::string out, config, dtype;
};

void add_merge(CLI::App& model) {
  auto a = std::make_shared<MergeArgs>();
  auto* sub =
      model.add_subcommand("merge", "Weighted sum of models of one architecture (checkpoint merger, model soup)");
  sub->add_option("models", a->models, "diffusers folders or single-file checkpoints (two or more)")->required();
  sub->add_option("--weights,-w", a->weights, "one per model, summing to 1 (default: equal)")->delimiter(',');
  sub->add_option("--out,-o", a->out, "output: a .safetensors file, or a folder (diffusers)")->required();
  sub->add_option("--config", a->config, "configs and tokenizers for single-file inputs or a folder output");
  sub->add_option("--dtype", a->dtype, "stored dtype: fp32 | fp16 | bf16 (default: the first model's UNet's)");
  sub->callback([a] {
    MergeOptions o;
    o.models = a->models;
    o.weights = a->weights;
    o.out = a->out;
    o.config_dir = a->config;
    if (!a->dtype.empty()) o.dtype = parse_storage_dtype(a->dtype);
    merge_models(o);
    std::cout << a->out << "\n";
  });
}

RegisterSubcommand reg("model", [](CLI::App& app) {
  auto* model = app.add_subcommand("model", "Model utilities");
  model->require_subcommand(1);
  add_init(*model);
  add_merge(*model);
});

}  // namespace

}  // namespace prtkl::cli
