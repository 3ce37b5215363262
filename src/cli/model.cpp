// `prtkl model`: model utilities.
//   init --family sd15|sdxl --out DIR   the full-size architecture from the published configs in configs/ with
//                                       seeded random weights, for benchmarks (random weights cost what trained
//                                       ones do)
//   merge A B [C ...] --out OUT         the weighted sum of models of one architecture (diffusion/model_merge.h)
//   extract-lora BASE TUNED --out F     what a fine-tune changed, as a LoRA (adapters/lora_extract.h)
#include <cstdio>
#include <iostream>

#include "adapters/lora_extract.h"

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

void add_extract_lora(CLI::App& model) {
  auto o = std::make_shared<ExtractLoraOptions>();
  auto dtype = std::make_shared<std::string>("fp16");
  auto* sub = model.add_subcommand("extract-lora", "What a fine-tune changed, as a LoRA (truncated SVD of each layer's change)");
  sub->add_option("base", o->base, "the model the fine-tune started from")->required();
  sub->add_option("tuned", o->tuned, "the fine-tuned model (same architecture)")->required();
  sub->add_option("--out,-o", o->out, "output .safetensors (must not exist)")->required();
  sub->add_option("--rank,-r", o->rank, "rank of Linear layers and 1x1 convolutions")->capture_default_str();
  sub->add_option("--conv-rank", o->conv_rank, "rank of 3x3 convolutions (0: --rank)")->capture_default_str();
  sub->add_option("--format", o->format, "kohya | peft")->capture_default_str();
  sub->add_option("--config", o->config_dir, "configs and tokenizers for single-file inputs");
  sub->add_flag("!--no-diffs", o->diffs, "leave out the changes of biases and norms (written whole, as .diff_b / .diff)");
  sub->add_option("--dtype", *dtype, "stored dtype: fp32 | fp16 | bf16")->capture_default_str();
  sub->callback([o, dtype] {
    o->dtype = parse_storage_dtype(*dtype);
    const auto r = extract_lora(*o);
    std::fprintf(stderr,
                 "extract-lora: %lld layers, %lld biases and norms whole, %lld parameters; the pairs keep %.1f %% of the "
                 "layers' change; %lld unchanged layers left out; %lld changed tensors not carried (%.2f %% of the "
                 "whole change)\n",
                 static_cast<long long>(r.layers), static_cast<long long>(r.diffs), static_cast<long long>(r.parameters),
                 100 * r.kept, static_cast<long long>(r.unchanged), static_cast<long long>(r.not_carried),
                 100 * r.not_carried_share);
    std::cout << o->out << "\n";
  });
}

RegisterSubcommand reg("model", [](CLI::App& app) {
  auto* model = app.add_subcommand("model", "Model utilities");
  model->require_subcommand(1);
  add_init(*model);
  add_merge(*model);
  add_extract_lora(*model);
});

}  // namespace

}  // namespace prtkl::cli
