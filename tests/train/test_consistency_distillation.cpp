// Latent consistency distillation (train/consistency_distillation.h) against its formulas, and `prtkl train
// --distill lcm` end to end on the tiny fixture: the consistency loss falls, the teacher is the model without the
// LoRA, and the outputs are an LCM-LoRA.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "support/fixtures.h"
#include "train/consistency_distillation.h"
#include "train/trainer.h"
#include "train_data.h"

using namespace prtkl;

namespace {

Config scheduler_config() {
  return Config::load(test::fixture_path("tiny-sd15/scheduler/scheduler_config.json"));
}

torch::Tensor alphas_cumprod() {  // the fixture's scaled-linear schedule, by hand (diffusers' DDPMScheduler)
  const auto cfg = scheduler_config();
  const double b0 = cfg.get<double>("beta_start"), b1 = cfg.get<double>("beta_end");
  const int64_t T = cfg.get<int64_t>("num_train_timesteps");
  const auto betas = torch::linspace(std::sqrt(b0), std::sqrt(b1), T, torch::kFloat64).pow(2);
  return torch::cumprod(1 - betas, 0);
}

double c_skip(double t) { return 0.25 / (100 * t * t + 0.25); }
double c_out(double t) { return 10 * t / std::sqrt(100 * t * t + 0.25); }

}  // namespace

TEST(ConsistencyDistillation, SolverTimestepsAndBoundaryScalingsAreLcmSchedulers) {
  ASSERT_EQ(scheduler_config().get<std::string>("beta_schedule"), "scaled_linear");
  const ConsistencyDistillation lcd(scheduler_config(), "", 50, 2.0, 0.001);
  const auto ts = lcd.solver_timesteps();
  ASSERT_EQ(ts.size(0), 50);
  EXPECT_EQ(ts[0].item<int64_t>(), 19);
  EXPECT_EQ(ts[1].item<int64_t>(), 39);
  EXPECT_EQ(ts[49].item<int64_t>(), 999);
  const auto [skip, out] = lcd.boundary_scalings(torch::tensor({0, 19, 999}, torch::kInt64));
  EXPECT_DOUBLE_EQ(skip[0].item<double>(), 1.0);  // at t = 0 the consistency function is the identity
  EXPECT_DOUBLE_EQ(out[0].item<double>(), 0.0);
  for (int i : {1, 2}) {
    const double t = i == 1 ? 19 : 999;
    EXPECT_NEAR(skip[i].item<double>(), c_skip(t), 1e-9);
    EXPECT_NEAR(out[i].item<double>(), c_out(t), 1e-6);
  }
  // Guidance is folded in as classifier-free guidance combines: uncond + g (cond - uncond).
  EXPECT_NEAR(lcd.guide(torch::tensor({3.0}), torch::tensor({1.0})).item<double>(), 5.0, 1e-12);
}

TEST(ConsistencyDistillation, LossIsTheGuidedDdimStepsConsistencyGapByHand) {
  // Linear stand-ins for the three networks, so that every quantity has a closed form.
  const ConsistencyDistillation lcd(scheduler_config(), "epsilon", 50, 3.0, 0.01);
  at::Generator g = at::detail::createCPUGenerator(5);
  const auto x0 = torch::randn({3, 4, 2, 2}, g, torch::kFloat32);
  const auto [noise, index] = lcd.draw(3, {4, 2, 2}, g);
  const auto student = [](const torch::Tensor& x, const torch::Tensor&) { return 0.5 * x; };
  const auto cond = [](const torch::Tensor& x) { return 0.3 * x; };
  const auto uncond = [](const torch::Tensor& x) { return 0.1 * x; };
  const auto teacher = [&](const torch::Tensor& x, const torch::Tensor&) { return lcd.guide(cond(x), uncond(x)); };
  const auto target = [](const torch::Tensor& x, const torch::Tensor&) { return 0.2 * x; };
  const auto loss = lcd.per_sample_loss(x0, noise, index, student, teacher, target);

  const auto acp = alphas_cumprod();
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t n = index[b].item<int64_t>();
    const int64_t s = 20 * (n + 1) - 1, t = std::max<int64_t>(s - 20, 0);
    const double as = acp[s].item<double>(), at = acp[t].item<double>();
    const auto x = x0[b].to(torch::kFloat64), e = noise[b].to(torch::kFloat64);
    const auto xs = std::sqrt(as) * x + std::sqrt(1 - as) * e;
    const auto x0_of = [](const torch::Tensor& out, const torch::Tensor& xt, double a) {
      return (xt - std::sqrt(1 - a) * out) / std::sqrt(a);
    };
    const auto pred = c_skip(s) * xs + c_out(s) * x0_of(0.5 * xs, xs, as);
    const auto guided = 0.1 * xs + 3.0 * (0.3 * xs - 0.1 * xs);
    const auto xt = std::sqrt(at) * x0_of(guided, xs, as) + std::sqrt(1 - at) * guided;
    const auto goal = c_skip(t) * xt + c_out(t) * x0_of(0.2 * xt, xt, at);
    const auto d = pred - goal;
    const double expected = (torch::sqrt(d * d + 1e-4) - 0.01).mean().item<double>();
    EXPECT_NEAR(loss[b].item<double>(), expected, 1e-5 * std::max(1.0, expected)) << "sample " << b << ", index " << n;
  }
}

TEST(ConsistencyDistillation, TrainingLowersTheConsistencyLossAndWritesAnLcmLora) {
  auto c = test::shapes_run("lcm_distill", 6);
  c.seed = 3;
  c.distill = Distillation::kLcm;
  // One solver step, from t = 999 straight to 0: the target is the guided teacher's own x0 there, a fixed function
  // the student can learn on this random tiny model (with more steps its bootstrapped target moves as it learns).
  c.lcm_original_steps = 1;
  c.rank = 8;
  c.lr = 1e-4;
  c.batch_size = 6;
  c.max_train_steps = 60;
  c.checkpoint_every = c.max_train_steps;
  c.save_dtype = "fp16";       // the LoRA files; the checkpoint's state stays fp32
  c.mixed_precision =
      MixedPrecision::kBf16;  // autocast's weight cache must not keep the target's casts for the student
  TrainConfig resolved = c;
  resolved.resolve();
  EXPECT_NEAR(resolved.ema_decay, 0.95, 1e-12);  // the target network's default
  Trainer trainer(c);
  const double before = trainer.fixed_noise_loss();
  std::vector<double> losses;
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    losses.push_back(s.loss);
    return true;
  };
  const auto result = trainer.run(cb);
  ASSERT_TRUE(result.finished);
  const double after = trainer.fixed_noise_loss();
  EXPECT_GT(before, 0.0);
  EXPECT_LT(after, 0.9 * before) << "before " << before << ", after " << after;  // 0.37 -> 0.30 here
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));

  const auto lora = SafeTensors::open(c.output_dir + "/pytorch_lora_weights.safetensors");
  EXPECT_EQ(lora.metadata().at("prtkl.distill"), "lcm");
  ASSERT_FALSE(lora.all().empty());
  for (const auto& [key, t] : lora.all()) EXPECT_EQ(t.scalar_type(), torch::kHalf) << key;
}

TEST(ConsistencyDistillation, ConfigRejectsWhatItCannotDistil) {
  TrainConfig c;
  c.model = "m";
  c.data = "d";
  c.output_dir = "o";
  c.distill = Distillation::kLcm;
  c.pivotal = true;
  EXPECT_THROW(c.resolve(), Error);
  c.pivotal = false;
  try {  // a config file's unknown kind: named with the file, the option and the known ones
    c.apply_json(Json{{"distill", "turbo"}}, "cfg.json");
    ADD_FAILURE() << "distill turbo was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.json: option \"distill\": \"turbo\" is not one of \"\", \"lcm\""),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(c.distill, Distillation::kLcm);
  c.lcm_guidance = 0.5;
  EXPECT_THROW(c.resolve(), Error);
}
