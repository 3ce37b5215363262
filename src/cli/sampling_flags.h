// How a subcommand samples: --steps, --cfg and --sampler. One definition for every subcommand that draws; what an
// unset flag means differs (the model's prtkl.json "sampling", a training run's validation settings, or fixed
// values), so each names its defaults and fills the unset flags from them.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "interpret/model_prompt.h"

namespace prtkl::cli {

struct SamplingFlags {
  int64_t steps = 0;    // 0: not given
  double cfg = -1;      // < 0: not given
  std::string sampler;  // "": not given
  // The flags with the unset ones taken from `defaults`; its sampling adapter (lora) stays only when its own
  // sampler is the one used.
  SamplingDefaults filled(SamplingDefaults defaults) const;
};

// What an unset flag means, for the help: `source` (e.g. "the model's prtkl.json \"sampling\"") else `fallback`'s
// value; with no source, the fallback alone. `group`: the help group; empty: none. An unknown sampler is an error
// naming the known ones.
void add_sampling_flags(CLI::App* sub, SamplingFlags& flags, const SamplingDefaults& fallback,
                        const std::string& source = "", const std::string& group = "");

}  // namespace prtkl::cli
