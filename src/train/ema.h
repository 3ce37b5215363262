#pragma once
// An exponential moving average of trained tensors: of the weights in full training (validation and the saved
// model use it), of the LoRA in consistency distillation (its target network).

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace prtkl {

class Ema {
 public:
  Ema() = default;
  // `warmup`: diffusers' EMAModel schedule (decay_at); without it every update uses `decay` (the LCD scripts'
  // target network).
  Ema(std::vector<torch::Tensor> tracked, double decay, bool warmup);

  bool empty() const { return average_.empty(); }
  // The decay of the update after optimizer step `step` (1-based), as diffusers' EMAModel.get_decay with
  // update_after_step 0: 0 at step 1 (the average starts as a copy), then min(decay, (1 + k) / (10 + k)) with
  // k = step - 1.
  double decay_at(int64_t step) const;
  void update(int64_t step);
  // The averages: what a checkpoint stores and restores.
  std::vector<torch::Tensor>& average() { return average_; }

  // Runs `f` with the averages in the tracked tensors, then puts the trained values back (also when f throws).
  template <typename F>
  auto with_average(F&& f) const {
    swap();
    struct Restore {
      const Ema& e;
      ~Restore() { e.swap(); }
    } restore{*this};
    return f();
  }

 private:
  void swap() const;  // tensor data changes, not which tensors are held
  std::vector<torch::Tensor> tracked_, average_;
  double decay_ = 0;
  bool warmup_ = true;
};

}  // namespace prtkl
