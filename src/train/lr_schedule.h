// Learning-rate schedules as diffusers' get_scheduler defines them: the factor applied to the base LR at
// optimizer step `step` (0-based) of `total`, with linear warmup over `warmup` steps ("constant" ignores warmup,
// as diffusers' does).
#pragma once
#include <cstdint>
#include <string>

namespace prtkl {

double lr_factor(const std::string& kind, int64_t step, int64_t total, int64_t warmup);

}  // namespace prtkl
