// The EMA against diffusers' EMAModel (training_utils.py, update_after_step 0, no inv_gamma warmup): at optimizer
// step n the decay is 0 for n = 1 (the average becomes a copy) and min(decay, (1 + k) / (10 + k)) with k = n - 1
// after; a target network (no warmup) uses the decay from the first step.
#include <gtest/gtest.h>

#include <stdexcept>

#include "train/ema.h"

using namespace prtkl;

TEST(Ema, DecayFollowsDiffusersEmaModel) {
  const auto w = torch::zeros({2});
  const Ema ema({w}, 0.999, true);
  EXPECT_DOUBLE_EQ(ema.decay_at(1), 0.0);
  EXPECT_DOUBLE_EQ(ema.decay_at(2), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(ema.decay_at(10), 10.0 / 19.0);
  EXPECT_DOUBLE_EQ(ema.decay_at(100000), 0.999);  // capped by the configured decay
  const Ema target({w}, 0.95, false);
  EXPECT_DOUBLE_EQ(target.decay_at(1), 0.95);
  EXPECT_DOUBLE_EQ(target.decay_at(500), 0.95);
}

TEST(Ema, UpdatesAverageAndSwapsItInForAWhile) {
  auto w = torch::tensor({1.0f, 2.0f});
  Ema ema({w}, 0.9, true);
  w.copy_(torch::tensor({3.0f, 4.0f}));
  ema.update(1);  // decay 0: a copy
  EXPECT_TRUE(torch::equal(ema.average()[0], torch::tensor({3.0f, 4.0f})));
  w.copy_(torch::tensor({5.0f, 6.0f}));
  ema.update(2);  // decay 2/11
  const double d = 2.0 / 11.0;
  const auto expected = torch::tensor({float(3 * d + 5 * (1 - d)), float(4 * d + 6 * (1 - d))});
  EXPECT_TRUE(torch::allclose(ema.average()[0], expected));
  const auto inside = ema.with_average([&] { return w.clone(); });
  EXPECT_TRUE(torch::allclose(inside, expected)) << "the tracked tensor holds the average inside";
  EXPECT_TRUE(torch::equal(w, torch::tensor({5.0f, 6.0f}))) << "and the trained values after";
  EXPECT_THROW(ema.with_average([]() -> int { throw std::runtime_error("validation failed"); }), std::runtime_error);
  EXPECT_TRUE(torch::equal(w, torch::tensor({5.0f, 6.0f}))) << "restored when the work throws";
  EXPECT_TRUE(torch::allclose(ema.average()[0], expected));
}
