#include "cli/sampling_flags.h"

#include <sstream>

#include "diffusion/scheduler.h"

namespace prtkl::cli {

SamplingDefaults SamplingFlags::filled(SamplingDefaults d) const {
  auto used = *this;
  d.fill(used.sampler, used.steps, used.cfg);  // SamplingDefaults' rule for what "not given" is
  d.lora = d.lora_for(used.sampler);
  d.sampler = used.sampler, d.steps = used.steps, d.cfg = used.cfg;
  return d;
}

void add_sampling_flags(CLI::App* sub, SamplingFlags& f, const SamplingDefaults& fallback, const std::string& source,
                        const std::string& group) {
  const auto in_group = [&](CLI::Option* o) { return group.empty() ? o : o->group(group); };
  const auto by_default = [&](const std::string& value) {
    return " (default: " + (source.empty() ? value : source + ", else " + value) + ")";
  };
  std::ostringstream cfg;
  cfg << fallback.cfg;
  in_group(sub->add_option("--steps", f.steps, "denoising steps" + by_default(std::to_string(fallback.steps)))
               ->check(CLI::PositiveNumber));
  in_group(sub->add_option("--cfg", f.cfg, "classifier-free guidance scale, <= 1 disables it" + by_default(cfg.str()))
               ->check(CLI::NonNegativeNumber));
  in_group(sub->add_option("--sampler", f.sampler, "sampler" + by_default(fallback.sampler))
               ->check(CLI::IsMember(scheduler_names())));
}

}  // namespace prtkl::cli
