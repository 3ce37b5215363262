// Every scheduler against diffusers 0.29: timesteps, sigmas, init_noise_sigma, whole trajectories with the
// seeded generator, every timestep_spacing override, and the DDPM training schedule.
#include <gtest/gtest.h>

#include "core/error.h"
#include "diffusion/ddpm_noise.h"
#include "diffusion/scheduler.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

class Schedulers : public ::testing::TestWithParam<std::string> {
 protected:
  test::Reference ref_{GetParam()};
  Config model_config() const {
    return Config::load(test::fixture_path(GetParam() + "/scheduler/scheduler_config.json"));
  }
};

}  // namespace

TEST_P(Schedulers, TrajectoriesMatchDiffusers) {
  // The loop below runs over the code's own list: it must be every scheduler the fixture has, and the fixture every
  // one of the code's but LCM (its reference is its published formulas: test_lcm_scheduler.cpp).
  std::vector<std::string> expected = {"lcm"};
  for (const auto& [name, _] : ref_.header().at("schedulers").items()) expected.push_back(name);
  auto names = scheduler_names();
  std::sort(names.begin(), names.end());
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(names, expected);
  for (const auto& name : scheduler_names()) {
    if (name == "lcm") continue;
    for (const int n : {4, 10}) {
      const std::string p = "sched." + name + ".n" + std::to_string(n) + ".";
      SCOPED_TRACE(p);
      auto s = make_scheduler(name, model_config());
      s->set_timesteps(n);
      EXPECT_MATCHES(ref_, p + "timesteps", s->timesteps());
      if (ref_.contains(p + "sigmas")) EXPECT_MATCHES(ref_, p + "sigmas", s->sigmas());
      EXPECT_MATCHES(ref_, p + "init_noise_sigma", torch::tensor(s->init_noise_sigma(), torch::kFloat32));
      const auto seed = ref_.header().at("scheduler_trajectory_generator_seeds").at(name).get<uint64_t>();
      at::Generator gen = at::detail::createCPUGenerator(seed);
      auto sample = ref_.get(p + "traj.sample0");
      auto outputs = ref_.get(p + "traj.model_output");
      std::vector<torch::Tensor> scaled, prev, x0;
      for (int i = 0; i < n; ++i) {
        scaled.push_back(s->scale_model_input(sample, i));
        auto st = s->step(outputs[i], i, sample, gen);
        prev.push_back(st.prev_sample);
        if (st.pred_original_sample.defined()) x0.push_back(st.pred_original_sample);
        sample = st.prev_sample;
      }
      EXPECT_MATCHES(ref_, p + "traj.scaled_input", torch::stack(scaled));
      EXPECT_MATCHES(ref_, p + "traj.prev_sample", torch::stack(prev));
      EXPECT_EQ(ref_.contains(p + "traj.pred_original_sample"), !x0.empty());
      if (!x0.empty()) EXPECT_MATCHES(ref_, p + "traj.pred_original_sample", torch::stack(x0));
    }
  }
}

TEST_P(Schedulers, EveryTimestepSpacing) {
  const std::map<std::string, std::string> names = {{"EulerDiscreteScheduler", "euler"},
                                                    {"EulerAncestralDiscreteScheduler", "euler_a"},
                                                    {"DDIMScheduler", "ddim"},
                                                    {"DPMSolverMultistepScheduler", "dpmpp_2m"}};
  int checked = 0;
  for (const auto& [key, _] : ref_.header().at("tensors").items()) {
    if (key.rfind("spacing.", 0) != 0) continue;
    // spacing.<Class>.<spacing>[.karras].n<N>.<what>
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    const bool karras = parts.size() == 6;
    Json overrides{{"timestep_spacing", parts[2]}};
    if (karras) overrides["use_karras_sigmas"] = true;
    auto s = make_scheduler(names.at(parts[1]), model_config(), overrides);
    s->set_timesteps(std::stoi(parts[parts.size() - 2].substr(1)));
    SCOPED_TRACE(key);
    EXPECT_MATCHES(ref_, key, parts.back() == "timesteps" ? s->timesteps() : s->sigmas());
    ++checked;
  }
  EXPECT_GE(checked, 60);
}

TEST_P(Schedulers, DdpmTrainingSchedule) {
  DDPMNoiseSchedule ddpm(model_config());
  EXPECT_MATCHES(ref_, "ddpm.alphas_cumprod", ddpm.alphas_cumprod());
  const auto x0 = ref_.get("ddpm.add_noise.original"), noise = ref_.get("ddpm.add_noise.noise");
  const auto t = ref_.get("ddpm.add_noise.timesteps");
  EXPECT_MATCHES(ref_, "ddpm.add_noise.out", ddpm.add_noise(x0, noise, t));
  EXPECT_MATCHES(ref_, "ddpm.get_velocity.out", ddpm.get_velocity(x0, noise, t));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Schedulers, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });

TEST(SchedulerErrors, UnknownNameAndBadSteps) {
  const auto cfg = Config::load(test::fixture_path("tiny-sd15/scheduler/scheduler_config.json"));
  EXPECT_THROW(make_scheduler("heun", cfg), Error);
  auto s = make_scheduler("euler", cfg);
  EXPECT_THROW(s->set_timesteps(0), Error);
  EXPECT_THROW(s->set_timesteps(-3), Error);
}
