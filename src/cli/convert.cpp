// `prtkl convert IN OUT`: a diffusers folder becomes a single-file checkpoint and a single file becomes a folder.
#include <iostream>

#include "cli/subcommand.h"
#include "core/runtime.h"
#include "diffusion/convert.h"

namespace prtkl::cli {

namespace {

struct ConvertArgs {
  std::string in, out, config_dir, dtype = "fp32";
};

RegisterSubcommand reg("convert", [](CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* sub = app.add_subcommand("convert", "Convert between a diffusers folder and a single-file checkpoint");
  sub->add_option("input", a->in, "diffusers folder or single-file .safetensors")->required();
  sub->add_option("output", a->out, "single-file .safetensors (from a folder) or folder (from a file)")->required();
  sub->add_option("--config", a->config_dir, "diffusers folder with configs/tokenizers for a single-file input");
  sub->add_option("--dtype", a->dtype, "stored dtype: fp32 | fp16 | bf16")->capture_default_str();
  sub->callback([a] {
    const torch::Dtype dtype = parse_storage_dtype(a->dtype);
    convert_model(a->in, a->out, a->config_dir, dtype);
    std::cout << a->out << "\n";
  });
});

}  // namespace

}  // namespace prtkl::cli
