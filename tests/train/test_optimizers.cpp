// AdamW and Prodigy trajectories against torch.optim.AdamW and prodigyopt 1.1.2 (float32 and float64 runs),
// frozen groups, and state round trips.
#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "train/optimizer.h"

using namespace prtkl;

namespace {

struct Params {
  torch::Tensor p1, p2;
  std::vector<ParamGroup> groups(double lr, double wd) {
    return {ParamGroup{"g", {p1, p2}, lr, wd, false}};
  }
};

Params start(const test::Reference& ref, torch::Dtype dtype) {
  return Params{ref.get("init.p1").to(dtype).set_requires_grad(true), ref.get("init.p2").to(dtype).set_requires_grad(true)};
}

// Runs the 5 fixture steps; returns per-step p1, p2 (and d for Prodigy).
template <typename Opt>
void trajectory(Opt& opt, Params& run, const test::Reference& ref, std::vector<torch::Tensor>& p1s,
                std::vector<torch::Tensor>& p2s, std::vector<double>* ds = nullptr) {
  const auto g1 = ref.get("grads.p1"), g2 = ref.get("grads.p2");
  for (int64_t k = 0; k < g1.size(0); ++k) {
    run.p1.mutable_grad() = g1[k].to(run.p1.scalar_type());
    run.p2.mutable_grad() = g2[k].to(run.p2.scalar_type());
    opt.step();
    p1s.push_back(run.p1.detach().clone());
    p2s.push_back(run.p2.detach().clone());
    if (ds) ds->push_back(dynamic_cast<Prodigy&>(static_cast<Optimizer&>(opt)).d());
  }
}

ProdigyOptions prodigy_options(const Json& c) {
  ProdigyOptions o;
  if (c.contains("betas")) {
    o.beta1 = c["betas"][0];
    o.beta2 = c["betas"][1];
  }
  o.beta3 = c.value("beta3", -1.0);
  o.eps = c.value("eps", 1e-8);
  o.decouple = c.value("decouple", true);
  o.use_bias_correction = c.value("use_bias_correction", false);
  o.safeguard_warmup = c.value("safeguard_warmup", false);
  o.d0 = c.value("d0", 1e-6);
  o.d_coef = c.value("d_coef", 1.0);
  if (c.contains("growth_rate")) o.growth_rate = c["growth_rate"];
  return o;
}

}  // namespace

TEST(Optimizers, AdamWMatchesTorch) {
  test::Reference ref("optimizers");
  const auto& c = ref.header().at("adamw");
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    auto run = start(ref, dtype);
    AdamW opt(run.groups(c["lr"], c["weight_decay"]), {c["betas"][0], c["betas"][1], c["eps"]});
    std::vector<torch::Tensor> p1s, p2s;
    trajectory(opt, run, ref, p1s, p2s);
    const std::string suffix = dtype == torch::kFloat64 ? "_f64" : "";
    EXPECT_MATCHES(ref, "adamw.p1" + suffix, torch::stack(p1s));
    EXPECT_MATCHES(ref, "adamw.p2" + suffix, torch::stack(p2s));
  }
}

TEST(Optimizers, ProdigyMatchesReferenceImplementation) {
  test::Reference ref("optimizers");
  int configs = 0;
  for (const auto& [name, c] : ref.header().at("prodigy_configs").items()) {
    SCOPED_TRACE(name);
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      auto run = start(ref, dtype);
      Prodigy opt(run.groups(c.value("lr", 1.0), c.value("weight_decay", 0.0)), prodigy_options(c));
      std::vector<torch::Tensor> p1s, p2s;
      std::vector<double> ds;
      trajectory(opt, run, ref, p1s, p2s, &ds);
      const std::string p = "prodigy." + name + ".", suffix = dtype == torch::kFloat64 ? "_f64" : "";
      EXPECT_MATCHES(ref, p + "p1" + suffix, torch::stack(p1s));
      EXPECT_MATCHES(ref, p + "p2" + suffix, torch::stack(p2s));
      auto d_ref = ref.get(p + "d" + suffix);
      // d is a double, but with float32 tensors it sums float32 dot products, whose rounding follows the CPU's
      // kernels (1.3e-7 relative on an AVX-512/AMX Xeon): float precision there, the reference's ~1e-12 in float64.
      const double rel = dtype == torch::kFloat64 ? 1e-12 : 1e-6;
      for (size_t k = 0; k < ds.size(); ++k)
        EXPECT_NEAR(ds[k], d_ref[k].item<double>(), rel * std::max(dtype == torch::kFloat64 ? 1.0 : 0.0, std::abs(ds[k])))
            << k;
    }
    ++configs;
  }
  EXPECT_EQ(configs, 6);
}

TEST(Optimizers, FrozenGroupDoesNotMoveEvenWithMomentumOrDecay) {
  for (int which = 0; which < 2; ++which) {
    auto a = torch::ones({3}).set_requires_grad(true), b = torch::ones({3}).set_requires_grad(true);
    std::vector<ParamGroup> groups{{"lora", {a}, 1.0, 0.01, false}, {"emb", {b}, 1.0, 0.01, false}};
    std::unique_ptr<Optimizer> opt;
    if (which == 0) opt = std::make_unique<AdamW>(groups);
    else opt = std::make_unique<Prodigy>(groups);
    for (int step = 0; step < 6; ++step) {
      if (step == 3) opt->groups()[1].frozen = true;  // the pivot
      a.mutable_grad() = torch::full({3}, 0.5);
      b.mutable_grad() = torch::full({3}, 0.5);
      const auto before = b.detach().clone();
      opt->step();
      if (step >= 3) EXPECT_TRUE(torch::equal(b, before)) << opt->name() << " step " << step;
      else EXPECT_FALSE(torch::equal(b, before)) << opt->name() << " step " << step;
    }
  }
}

TEST(Optimizers, StateRoundTripContinuesIdentically) {
  test::Reference ref("optimizers");
  const auto c = ref.header().at("prodigy_configs").at("options");
  auto run_a = start(ref, torch::kFloat32);
  Prodigy a(run_a.groups(c["lr"], c["weight_decay"]), prodigy_options(c));
  const auto g1 = ref.get("grads.p1"), g2 = ref.get("grads.p2");
  auto step = [&](Optimizer& opt, Params& run, int k) {
    run.p1.mutable_grad() = g1[k];
    run.p2.mutable_grad() = g2[k];
    opt.step();
  };
  for (int k = 0; k < 2; ++k) step(a, run_a, k);
  // Resume: fresh parameters at the same values, fresh optimizer, saved state.
  Params run_b{run_a.p1.detach().clone().set_requires_grad(true), run_a.p2.detach().clone().set_requires_grad(true)};
  Prodigy b(run_b.groups(c["lr"], c["weight_decay"]), prodigy_options(c));
  b.load_state(a.state());
  for (int k = 2; k < 5; ++k) {
    step(a, run_a, k);
    step(b, run_b, k);
  }
  EXPECT_TRUE(torch::equal(run_a.p1, run_b.p1));
  EXPECT_TRUE(torch::equal(run_a.p2, run_b.p2));
  EXPECT_EQ(a.d(), b.d());
}
