// The faults issue 39 found in the first sampler, each pinned by a picture like the bundled model's (64x64).
#include <gtest/gtest.h>

#include "particles/particles.h"
#include "particles/score.h"
#include "pictures.h"

using namespace prtkl;
using namespace prtkl::test;

// Two blues of the same brightness side by side, a 1-pixel white gap between them reaching the paper: the gap stays
// empty of particles and stays white when the set is drawn (it was filled with pale blue particles from a
// bilinear enlargement, and edges were weighed by brightness alone).
TEST(ParticleFaults, OnePixelGapBetweenSameBrightnessRegionsStays) {
  Image img = canvas(64, 64, {255, 255, 255});
  const std::array<uint8_t, 3> blue_a{40, 90, 220}, blue_b{60, 82, 210};
  ASSERT_NEAR(luma(blue_a), luma(blue_b), 2.0f);
  paint(img, 10, 12, 32, 52, blue_a);
  paint(img, 33, 12, 54, 52, blue_b);
  const auto set = make_particles(img, {8000, 1});
  ASSERT_GT(set.particles.size(), 7900u);
  for (const auto& p : set.particles) ASSERT_NE(static_cast<int>(p.x), 32) << "a particle in the gap at y " << p.y;
  const int scale = 6;
  const Image drawn = render_particles(set, scale);
  int white = 0;
  for (int y = 14 * scale; y < 50 * scale; ++y) white += luma(pixel(drawn, 32 * scale + scale / 2, y)) > 200;
  EXPECT_GT(white, 0.95 * 36 * scale) << "the gap is covered in the drawn set";
}

// White enclosed by the drawing (an eye's white, a ring's hole) is drawing, not paper: it gets white particles
// (only colours near the paper's that touch the border are paper).
TEST(ParticleFaults, EnclosedWhiteKeepsParticles) {
  Image img = canvas(64, 64, {255, 255, 255});
  paint_disc(img, 32, 32, 24, {20, 20, 30});
  paint_disc(img, 32, 32, 10, {255, 255, 255});
  const auto set = make_particles(img, {8000, 2});
  int hole = 0;
  for (const auto& p : set.particles)
    if (std::hypot(p.x - 32, p.y - 32) < 8.5) {
      ++hole;
      ASSERT_GT(luma(p.rgb), 240) << "a dark particle in the white hole";
    }
  const double share = 8.5 * 8.5 / (24.0 * 24.0);  // the hole's share of the drawing's area, near enough
  EXPECT_GT(hole, 0.8 * share * set.particles.size());
}

// An antialiased flat red disc on white: the rim pixels blend red with white, and no particle takes such a pale
// blend (they made a white halo around every shape).
TEST(ParticleFaults, NoPaleRimOnAFlatShape) {
  Image img = canvas(64, 64, {255, 255, 255});
  const std::array<uint8_t, 3> red{210, 30, 40};
  paint_disc(img, 31.3f, 32.6f, 20.5f, red);
  const auto set = make_particles(img, {8000, 3});
  ASSERT_GT(set.particles.size(), 7900u);
  for (const auto& p : set.particles) {
    const double off = std::hypot(p.rgb[0] - red[0], p.rgb[1] - red[1], p.rgb[2] - red[2]);
    ASSERT_LT(off, 16) << "particle at " << p.x << "," << p.y << " has " << int(p.rgb[0]) << "," << int(p.rgb[1]) << ","
                       << int(p.rgb[2]);
  }
}

// The same picture and seed give the same set, byte for byte; another seed another order of the same dots.
TEST(ParticleFaults, SameImageAndSeedSameSet) {
  Image img = canvas(64, 64, {255, 255, 255});
  paint_disc(img, 30, 30, 20, {230, 180, 40});
  paint_disc(img, 24, 26, 4, {30, 30, 30});
  const auto a = make_particles(img, {8000, 42}), b = make_particles(img, {8000, 42}),
             c = make_particles(img, {8000, 43});
  EXPECT_EQ(particles_to_binary(a), particles_to_binary(b));
  EXPECT_NE(particles_to_binary(a), particles_to_binary(c));
}
