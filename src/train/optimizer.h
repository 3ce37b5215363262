// Optimizers for LoRA / textual-inversion training: AdamW (torch.optim.AdamW's math) and Prodigy (konstmish/prodigy
// 1.1.2). Parameter groups carry their own learning rate and weight decay (UNet LoRA vs text-encoder LR), a group can
// be frozen outright (no update, no momentum, no weight decay: the pivot of pivotal tuning), and the whole state
// round-trips through a TensorMap for checkpoints.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace prtkl {

struct TrainConfig;

struct ParamGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  double lr = 1e-4;
  double weight_decay = 0.0;
  bool frozen = false;  // skipped entirely by step()
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  std::vector<ParamGroup>& groups() { return groups_; }
  // Checkpointing: every state tensor and scalar, keyed "<group>.<index>.<what>" / "scalar.<name>".
  virtual TensorMap state() const = 0;
  virtual void load_state(const TensorMap& state) = 0;
  virtual std::string name() const = 0;
  // The learning rate actually applied to group 0 (Prodigy: d · lr), for logs.
  virtual double effective_lr() const { return groups_.empty() ? 0.0 : groups_[0].lr; }

 protected:
  std::vector<ParamGroup> groups_;
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
  void step() override;
  TensorMap state() const override;
  void load_state(const TensorMap& state) override;
  std::string name() const override { return "adamw"; }

 private:
  AdamWOptions o_;
  std::vector<std::vector<torch::Tensor>> m_, v_;
  std::vector<std::vector<int64_t>> steps_;
};

struct ProdigyOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double beta3 = -1;  // < 0: sqrt(beta2)
  double eps = 1e-8, d0 = 1e-6, d_coef = 1.0, growth_rate = std::numeric_limits<double>::infinity();
  bool decouple = true, use_bias_correction = false, safeguard_warmup = false;
};

class Prodigy : public Optimizer {
 public:
  Prodigy(std::vector<ParamGroup> groups, ProdigyOptions options = {});
  void step() override;
  TensorMap state() const override;
  void load_state(const TensorMap& state) override;
  std::string name() const override { return "prodigy"; }
  double d() const { return d_; }
  double effective_lr() const override;

 private:
  ProdigyOptions o_;
  double d_, d_max_, numerator_ = 0;
  int64_t k_ = 0;
  std::vector<std::vector<torch::Tensor>> m_, v_, s_, p0_;
};

// The config's optimizer (AdamW or Prodigy with its options) over `groups`.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<ParamGroup> groups);

}  // namespace prtkl
