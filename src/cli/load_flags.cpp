#include "cli/load_flags.h"

namespace prtkl::cli {

void add_load_flags(CLI::App* sub, LoadFlags& f, const std::string& group) {
  sub->add_option("--threads,-t", f.threads,
                  "CPU threads (0: all cores; default: 1 for a small model such as the bundled one in fp32, else all)")
      ->capture_default_str();
  const auto in_group = [&](CLI::Option* o) { return group.empty() ? o : o->group(group); };
  in_group(sub->add_option("--device", f.device, "cpu | cuda")->capture_default_str());
  in_group(sub->add_option("--dtype", f.dtype,
                           "auto | fp32 | bf16 | fp16 (auto: bf16 on CPUs with bfloat16 arithmetic, AVX512-BF16 or "
                           "AMX; else fp32. fp32 gives diffusers' pixels on every machine)")
               ->capture_default_str());
  in_group(sub->add_option("--config", f.config_dir, "diffusers folder with configs/tokenizers for a single-file checkpoint"));
  in_group(sub->add_option("--variant", f.variant, "weight variant to prefer in a diffusers folder, e.g. fp16"));
  in_group(sub->add_option("--vae", f.vae,
                           "VAE file or folder (or its name under the models folder's vae/) to use instead of the model's"));
}

LoadOptions load_options(const LoadFlags& f) {
  LoadOptions lo;
  lo.device = parse_device(f.device);
  lo.dtype = parse_dtype(f.dtype, lo.device);
  lo.config_dir = f.config_dir;
  lo.variant = f.variant;
  lo.vae_path = f.vae;
  return lo;
}

}  // namespace prtkl::cli
