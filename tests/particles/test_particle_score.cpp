#include <gtest/gtest.h>

#include "core/error.h"
#include "particles/particles.h"
#include "particles/score.h"
#include "pictures.h"

using namespace prtkl;
using namespace prtkl::test;

namespace {

Image smiley() {
  Image img = canvas(64, 64, {255, 255, 255});
  paint_disc(img, 32, 32, 26, {250, 200, 40});
  paint_disc(img, 24, 26, 4, {40, 30, 20});
  paint_disc(img, 40, 26, 4, {40, 30, 20});
  paint(img, 22, 42, 42, 45, {150, 40, 30});
  return img;
}

}  // namespace

TEST(ParticleScore, AFaithfulSetScoresHigh) {
  const Image img = smiley();
  const auto s = score_particles(img, make_particles(img, {8000, 1}));
  EXPECT_GT(s.ssim, 0.9);
  EXPECT_LT(s.colour_error, 20);
  EXPECT_LT(s.delta_e, 8);
  EXPECT_GT(s.edge_recall, 0.9);
}

// A set whose dots are all one colour keeps the silhouette but loses the face: every figure drops.
TEST(ParticleScore, LostDetailAndColourScoreLow) {
  const Image img = smiley();
  auto set = make_particles(img, {8000, 1});
  const auto good = score_particles(img, set);
  for (auto& p : set.particles) p.rgb = {200, 200, 200};
  const auto bad = score_particles(img, set);
  EXPECT_LT(bad.ssim, good.ssim - 0.1);
  EXPECT_GT(bad.colour_error, good.colour_error + 50);
  EXPECT_LT(bad.edge_recall, good.edge_recall - 0.2);
}

TEST(ParticleScore, RenderDrawsDiscsOverTheBackground) {
  ParticleSet set;
  set.width = 10, set.height = 10, set.background = {255, 255, 255};
  set.particles.push_back({5.0f, 5.0f, {10, 20, 30}, 2.0f});
  const Image drawn = render_particles(set, 4);
  ASSERT_EQ(drawn.width, 40);
  EXPECT_EQ(pixel(drawn, 20, 20), (std::array<uint8_t, 3>{10, 20, 30}));
  EXPECT_EQ(pixel(drawn, 20, 24), (std::array<uint8_t, 3>{255, 255, 255}));  // radius 1 px = 4 render px
  EXPECT_EQ(pixel(drawn, 0, 0), (std::array<uint8_t, 3>{255, 255, 255}));
}

TEST(ParticleScore, ASetForAnotherImageIsAnError) {
  EXPECT_THROW(score_particles(disc(32, 8), make_particles(disc(64, 16), {500, 0})), Error);
}
