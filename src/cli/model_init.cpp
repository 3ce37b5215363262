// `prtkl model init --family sd15|sdxl --out DIR`: the full-size architecture from the published configs in
// configs/ with seeded random weights, for benchmarks (random weights cost what trained ones do).
#include <iostream>

#include "cli/cli_util.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"
#include "diffusion/model_init.h"

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

RegisterSubcommand reg("model", [](CLI::App& app) {
  auto a = std::make_shared<InitArgs>();
  auto* model = app.add_subcommand("model", "Model utilities");
  model->require_subcommand(1);
  auto* sub = model->add_subcommand("init", "A full-size SD 1.5 / SDXL diffusers folder with seeded random weights");
  sub->add_option("--family", a->family, "sd15 | sdxl")->required();
  sub->add_option("--out,-o", a->out, "output folder")->required();
  sub->add_option("--tokenizer", a->tokenizer, "tokenizer folder to copy (default: OpenAI CLIP's, third_party/clip)");
  sub->add_option("--tokenizer-2", a->tokenizer_2, "SDXL second tokenizer folder (default: --tokenizer)");
  sub->add_option("--dtype", a->dtype, "fp32 | fp16 | bf16")->capture_default_str();
  sub->add_option("--seed", a->seed, "weights seed")->capture_default_str();
  sub->add_option("--configs", a->configs, "config folder (default: configs/<family> of the source tree)");
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
