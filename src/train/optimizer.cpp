#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"
#include "train/train_config.h"

namespace prtkl {

namespace {

std::string key(const ParamGroup& g, size_t i, const char* what) { return g.name + "." + std::to_string(i) + "." + what; }

// Zero-initialised per-parameter state, one list per group.
std::vector<std::vector<torch::Tensor>> zeros_like_groups(const std::vector<ParamGroup>& groups) {
  std::vector<std::vector<torch::Tensor>> out;
  for (const auto& g : groups) {
    out.emplace_back();
    for (const auto& p : g.params) out.back().push_back(torch::zeros_like(p));
  }
  return out;
}

void save_list(TensorMap& out, const std::vector<ParamGroup>& groups, const std::vector<std::vector<torch::Tensor>>& s,
               const char* what) {
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < s[g].size(); ++i) out[key(groups[g], i, what)] = s[g][i];
}

void load_list(const TensorMap& in, const std::vector<ParamGroup>& groups, std::vector<std::vector<torch::Tensor>>& s,
               const char* what) {
  torch::NoGradGuard no_grad;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < s[g].size(); ++i) {
      auto it = in.find(key(groups[g], i, what));
      if (it == in.end()) fail("optimizer state: '", key(groups[g], i, what), "' is missing");
      if (it->second.sizes() != s[g][i].sizes()) fail("optimizer state: '", it->first, "' has the wrong shape");
      s[g][i].copy_(it->second);
    }
}

double scalar(const TensorMap& in, const std::string& name) {
  auto it = in.find("scalar." + name);
  if (it == in.end()) fail("optimizer state: 'scalar.", name, "' is missing");
  return it->second.item<double>();
}

}  // namespace

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : Optimizer(std::move(groups)), o_(options) {
  m_ = zeros_like_groups(groups_);
  v_ = zeros_like_groups(groups_);
  for (const auto& g : groups_) steps_.emplace_back(g.params.size(), 0);
}

void AdamW::step() {
  torch::NoGradGuard no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    if (g.frozen) continue;
    for (size_t i = 0; i < g.params.size(); ++i) {
      auto& p = g.params[i];
      if (!p.grad().defined()) continue;
      const auto& grad = p.grad();
      const int64_t t = ++steps_[gi][i];
      p.mul_(1 - g.lr * g.weight_decay);
      m_[gi][i].mul_(o_.beta1).add_(grad, 1 - o_.beta1);
      v_[gi][i].mul_(o_.beta2).addcmul_(grad, grad, 1 - o_.beta2);
      const double bc1 = 1 - std::pow(o_.beta1, t), bc2 = 1 - std::pow(o_.beta2, t);
      auto denom = (v_[gi][i].sqrt() / std::sqrt(bc2)).add_(o_.eps);
      p.addcdiv_(m_[gi][i], denom, -g.lr / bc1);
    }
  }
}

TensorMap AdamW::state() const {
  TensorMap out;
  save_list(out, groups_, m_, "exp_avg");
  save_list(out, groups_, v_, "exp_avg_sq");
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < steps_[g].size(); ++i) out[key(groups_[g], i, "step")] = torch::tensor(steps_[g][i]);
  return out;
}

void AdamW::load_state(const TensorMap& in) {
  load_list(in, groups_, m_, "exp_avg");
  load_list(in, groups_, v_, "exp_avg_sq");
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < steps_[g].size(); ++i) {
      auto it = in.find(key(groups_[g], i, "step"));
      if (it == in.end()) fail("optimizer state: '", key(groups_[g], i, "step"), "' is missing");
      steps_[g][i] = it->second.item<int64_t>();
    }
}

Prodigy::Prodigy(std::vector<ParamGroup> groups, ProdigyOptions options)
    : Optimizer(std::move(groups)), o_(options), d_(options.d0), d_max_(options.d0) {
  if (o_.beta3 < 0) o_.beta3 = std::sqrt(o_.beta2);
  m_ = zeros_like_groups(groups_);
  v_ = zeros_like_groups(groups_);
  s_ = zeros_like_groups(groups_);
  for (const auto& g : groups_) {
    p0_.emplace_back();
    for (const auto& p : g.params) p0_.back().push_back(p.detach().clone());
  }
}

double Prodigy::effective_lr() const { return groups_.empty() ? 0.0 : d_ * groups_[0].lr; }

void Prodigy::step() {
  torch::NoGradGuard no_grad;
  // Prodigy's d is global: every active group must share the one lr (frozen groups simply stay out).
  double lr = 0;
  for (const auto& g : groups_)
    if (!g.frozen) lr = std::max(lr, g.lr);
  const double bc = o_.use_bias_correction
                        ? std::sqrt(1 - std::pow(o_.beta2, k_ + 1)) / (1 - std::pow(o_.beta1, k_ + 1))
                        : 1.0;
  const double dlr = d_ * lr * bc;
  numerator_ *= o_.beta3;
  double denom_sum = 0;
  std::vector<std::vector<torch::Tensor>> grads(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    grads[gi].resize(g.params.size());
    if (g.frozen) continue;
    for (size_t i = 0; i < g.params.size(); ++i) {
      auto& p = g.params[i];
      if (!p.grad().defined()) continue;
      auto grad = p.grad();
      if (g.weight_decay != 0 && !o_.decouple) grad = grad + g.weight_decay * p;  // coupled L2
      grads[gi][i] = grad;
      if (g.lr > 0) {
        numerator_ += (d_ / o_.d0) * dlr * torch::dot(grad.flatten(), (p0_[gi][i] - p).flatten()).item<double>();
        m_[gi][i].mul_(o_.beta1).add_(grad, d_ * (1 - o_.beta1));
        v_[gi][i].mul_(o_.beta2).addcmul_(grad, grad, d_ * d_ * (1 - o_.beta2));
        s_[gi][i].mul_(o_.beta3).add_(grad, (d_ / o_.d0) * (o_.safeguard_warmup ? d_ : dlr));
        denom_sum += s_[gi][i].abs().sum().item<double>();
      }
    }
  }
  if (denom_sum == 0) return;
  if (lr > 0) {
    const double d_hat = o_.d_coef * numerator_ / denom_sum;
    if (d_ == o_.d0) d_ = std::max(d_, d_hat);
    d_max_ = std::max(d_max_, d_hat);
    d_ = std::min(d_max_, d_ * o_.growth_rate);
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    if (g.frozen) continue;
    for (size_t i = 0; i < g.params.size(); ++i) {
      auto& p = g.params[i];
      if (!grads[gi][i].defined()) continue;
      auto denom = v_[gi][i].sqrt().add_(d_ * o_.eps);
      if (g.weight_decay != 0 && o_.decouple) p.add_(p, -g.weight_decay * dlr);
      if (o_.beta1 > 0) p.addcdiv_(m_[gi][i], denom, -dlr);
      else p.addcdiv_(grads[gi][i], denom, -dlr * d_);
    }
  }
  ++k_;
}

TensorMap Prodigy::state() const {
  TensorMap out;
  save_list(out, groups_, m_, "exp_avg");
  save_list(out, groups_, v_, "exp_avg_sq");
  save_list(out, groups_, s_, "s");
  save_list(out, groups_, p0_, "p0");
  out["scalar.d"] = torch::tensor(d_, torch::kFloat64);
  out["scalar.d_max"] = torch::tensor(d_max_, torch::kFloat64);
  out["scalar.numerator"] = torch::tensor(numerator_, torch::kFloat64);
  out["scalar.k"] = torch::tensor(k_);
  return out;
}

void Prodigy::load_state(const TensorMap& in) {
  load_list(in, groups_, m_, "exp_avg");
  load_list(in, groups_, v_, "exp_avg_sq");
  load_list(in, groups_, s_, "s");
  load_list(in, groups_, p0_, "p0");
  d_ = scalar(in, "d");
  d_max_ = scalar(in, "d_max");
  numerator_ = scalar(in, "numerator");
  k_ = static_cast<int64_t>(scalar(in, "k"));
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<ParamGroup> groups) {
  if (c.optimizer == OptimizerKind::kAdamW)
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions{c.adam_beta1, c.adam_beta2, c.adam_epsilon});
  ProdigyOptions po;
  po.beta1 = c.adam_beta1;
  po.beta2 = c.adam_beta2;
  po.beta3 = c.prodigy_beta3;
  po.eps = c.adam_epsilon;
  po.d0 = c.prodigy_d0;
  po.d_coef = c.prodigy_d_coef;
  if (c.prodigy_growth_rate > 0) po.growth_rate = c.prodigy_growth_rate;
  po.decouple = c.prodigy_decouple;
  po.use_bias_correction = c.prodigy_use_bias_correction;
  po.safeguard_warmup = c.prodigy_safeguard_warmup;
  return std::make_unique<Prodigy>(std::move(groups), po);
}

}  // namespace prtkl
