// The LCM sampler (diffusers' LCMScheduler) against its published formulas, computed here in float64: the timestep
// table (4 steps: 999, 759, 499, 259), the boundary condition c_skip/c_out, and a whole 4-step trajectory on known
// tensors with the noise re-injected from the seeded generator; then end to end on the tiny fixture.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "diffusion/lcm_scheduler.h"
#include "diffusion/model_loader.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {
Config sd_config() { return Config::load(test::fixture_path("tiny-sd15/scheduler/scheduler_config.json")); }

std::vector<int64_t> timesteps(LCMScheduler& s, int64_t n) {
  s.set_timesteps(n);
  const auto t = s.timesteps().contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

// alphas_cumprod of the scaled_linear schedule, float64.
std::vector<double> alphas_cumprod() {
  std::vector<double> out;
  double a = 1.0;
  const double lo = std::sqrt(0.00085), hi = std::sqrt(0.012);
  for (int i = 0; i < 1000; ++i) {
    const double b = std::pow(lo + (hi - lo) * i / 999.0, 2);
    a *= 1.0 - b;
    out.push_back(a);
  }
  return out;
}
}  // namespace

TEST(LcmScheduler, TimestepsAreTheDistillationScheduleTakenEvenlyByIndex) {
  LCMScheduler s(sd_config(), Json::object());
  EXPECT_EQ(timesteps(s, 4), (std::vector<int64_t>{999, 759, 499, 259}));
  EXPECT_EQ(timesteps(s, 1), (std::vector<int64_t>{999}));
  EXPECT_EQ(timesteps(s, 8), (std::vector<int64_t>{999, 879, 759, 639, 499, 379, 259, 139}));
  const auto all = timesteps(s, 50);
  ASSERT_EQ(all.size(), 50u);
  EXPECT_EQ(all.front(), 999);
  EXPECT_EQ(all.back(), 19);
  EXPECT_THROW(s.set_timesteps(51), Error);  // more than original_inference_steps
  LCMScheduler s25(sd_config(), Json{{"original_inference_steps", 25}});
  EXPECT_EQ(timesteps(s25, 4), (std::vector<int64_t>{999, 759, 519, 279}));  // k = 40, indices 0, 6, 12, 18
}

TEST(LcmScheduler, BoundaryConditionIsTheConsistencyParameterisation) {
  LCMScheduler s(sd_config(), Json::object());
  for (const int64_t t : {0, 1, 19, 259, 999}) {
    const double scaled = 10.0 * t;
    const auto [c_skip, c_out] = s.boundary_scalings(t);
    EXPECT_NEAR(c_skip, 0.25 / (scaled * scaled + 0.25), 1e-7) << t;
    EXPECT_NEAR(c_out, scaled / std::sqrt(scaled * scaled + 0.25), 1e-7) << t;
  }
  EXPECT_EQ(s.boundary_scalings(0), (std::pair<float, float>{1.0f, 0.0f}));  // the identity at t = 0
}

TEST(LcmScheduler, FourStepTrajectoryMatchesTheFormulas) {
  LCMScheduler s(sd_config(), Json::object());
  s.set_timesteps(4);
  const auto acp = alphas_cumprod();
  at::Generator data = at::detail::createCPUGenerator(3);
  auto sample = torch::randn({2, 4, 8, 8}, data);
  const auto outputs = torch::randn({4, 2, 4, 8, 8}, data);
  at::Generator gen = at::detail::createCPUGenerator(7), expected_gen = at::detail::createCPUGenerator(7);
  auto expected = sample.to(torch::kFloat64);
  const std::vector<int64_t> ts = {999, 759, 499, 259};
  for (int64_t i = 0; i < 4; ++i) {
    const auto st = s.step(outputs[i], i, sample, gen);
    const double a = acp[ts[i]], scaled = 10.0 * ts[i];
    const double c_skip = 0.25 / (scaled * scaled + 0.25), c_out = scaled / std::sqrt(scaled * scaled + 0.25);
    const auto x0 = (expected - std::sqrt(1 - a) * outputs[i].to(torch::kFloat64)) / std::sqrt(a);
    const auto denoised = c_out * x0 + c_skip * expected;
    if (i < 3) {
      const double a_prev = acp[ts[i + 1]];
      const auto noise = torch::randn(sample.sizes(), expected_gen).to(torch::kFloat64);
      expected = std::sqrt(a_prev) * denoised + std::sqrt(1 - a_prev) * noise;
    } else {
      expected = denoised;  // no noise after the last step
    }
    EXPECT_TRUE(torch::allclose(st.pred_original_sample.to(torch::kFloat64), denoised, 1e-5, 1e-5)) << "step " << i;
    EXPECT_TRUE(torch::allclose(st.prev_sample.to(torch::kFloat64), expected, 1e-5, 1e-5))
        << "step " << i << ": max |diff| " << (st.prev_sample.to(torch::kFloat64) - expected).abs().max().item<double>();
    sample = st.prev_sample;
  }
}

TEST(LcmScheduler, GeneratesOnTheTinyModelWithGuidanceOff) {
  torch::set_num_threads(1);
  auto model = load_model(test::fixture_path("tiny-sd15"));
  StableDiffusionPipeline pipe(model);
  GenerateParams p;
  p.prompt = "a red apple";
  p.sampler = "lcm";
  p.steps = 4;
  p.guidance_scale = 1.0;
  p.seed = 5;
  std::vector<int64_t> steps;
  const auto a = pipe.generate(p, [&](const StepEvent& e) { steps.push_back(e.step); });
  EXPECT_EQ(steps.size(), 4u);
  EXPECT_EQ(a.sampler_display_name, "LCM");
  EXPECT_TRUE(torch::isfinite(a.images).all().item<bool>());
  // Guidance off: one conditional pass, so the negative prompt plays no part.
  p.negative_prompt = "blurry";
  p.has_negative_prompt = true;
  EXPECT_TRUE(torch::equal(pipe.generate(p).images, a.images));
  p.seed = 6;  // the re-injected noise follows the seed
  EXPECT_FALSE(torch::equal(pipe.generate(p).images, a.images));
}
