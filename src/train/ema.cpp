#include "train/ema.h"

#include <algorithm>

namespace prtkl {

Ema::Ema(std::vector<torch::Tensor> tracked, double decay, bool warmup)
    : tracked_(std::move(tracked)), decay_(decay), warmup_(warmup) {
  for (const auto& t : tracked_) average_.push_back(t.detach().clone());
}

double Ema::decay_at(int64_t step) const {
  if (!warmup_) return decay_;
  const int64_t k = step - 1;
  if (k <= 0) return 0.0;
  return std::min(decay_, (1.0 + double(k)) / (10.0 + double(k)));
}

void Ema::update(int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = decay_at(step);
  for (size_t i = 0; i < average_.size(); ++i) average_[i].mul_(d).add_(tracked_[i].detach(), 1.0 - d);
}

void Ema::swap() const {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < average_.size(); ++i) {
    auto held = tracked_[i].detach().clone();
    tracked_[i].detach().copy_(average_[i]);
    average_[i].copy_(held);
  }
}

}  // namespace prtkl
