#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "particles/particles.h"
#include "pictures.h"
#include "support/fixtures.h"

using namespace prtkl;
using namespace prtkl::test;

TEST(Particles, SitOnTheShapeAndNotTheBackground) {
  const auto set = make_particles(disc(256, 70), {4000, 7});
  EXPECT_EQ(set.width, 256);
  EXPECT_EQ(set.height, 256);
  EXPECT_EQ(set.background, (std::array<uint8_t, 3>{255, 255, 255}));
  EXPECT_TRUE(about(set.particles.size(), 4000)) << set.particles.size();
  int quadrant[4] = {0, 0, 0, 0};
  for (const auto& p : set.particles) {
    ASSERT_LT(std::hypot(p.x - 128, p.y - 128), 70 + 1.5) << p.x << "," << p.y;
    ASSERT_LT(p.rgb[0], 128);
    ASSERT_GT(p.size, 0);
    quadrant[(p.x > 128) + 2 * (p.y > 128)]++;
  }
  for (int q : quadrant) EXPECT_NEAR(q / 4000.0, 0.25, 0.03);  // spread evenly over the disc
}

// The order is shuffled: every prefix (what a slow client draws) covers the picture as the whole set does. Two
// regions of different darkness and size, cut into a 4x4 grid: each cell's share of a prefix stays within
// sampling noise of its share of the whole set.
TEST(Particles, AnyPrefixIsAnEvenlySpreadSubset) {
  Image img = canvas(128, 128, {255, 255, 255});
  paint(img, 8, 8, 120, 56, {0, 0, 0});
  paint(img, 8, 64, 64, 120, {120, 120, 120});
  const auto set = make_particles(img, {8000, 3});
  const size_t n = set.particles.size();
  ASSERT_GT(n, 7000u);
  auto shares = [&](size_t k) {
    std::vector<double> share(16, 0.0);
    for (size_t i = 0; i < k; ++i) share[int(set.particles[i].x / 32) + 4 * int(set.particles[i].y / 32)] += 1.0 / k;
    return share;
  };
  const auto all = shares(n);
  for (const size_t k : {200u, 800u, 3000u}) {
    const auto part = shares(k);
    for (int c = 0; c < 16; ++c) {
      const double sd = std::sqrt(all[c] * (1 - all[c]) / k);
      EXPECT_LE(std::abs(part[c] - all[c]), 4.5 * sd + 1e-9) << "prefix " << k << ", cell " << c;
    }
  }
}

TEST(Particles, SameSeedSameSetOtherSeedOtherSet) {
  const Image img = disc(128, 40);
  const auto a = make_particles(img, {2000, 1}), b = make_particles(img, {2000, 1}), c = make_particles(img, {2000, 2});
  EXPECT_EQ(particles_to_binary(a), particles_to_binary(b));
  EXPECT_NE(particles_to_binary(a), particles_to_binary(c));
  EXPECT_EQ(a.seed, 1u);
}

// Density is even: dots on a dark page read denser as brighter, so colour, not crowding, carries the tone.
TEST(Particles, DensityIsEvenAndColourCarriesTheTone) {
  Image img = canvas(200, 100, {255, 255, 255});
  paint(img, 20, 20, 80, 80, {0, 0, 0});          // black square on the left
  paint(img, 120, 20, 180, 80, {170, 170, 170});  // light grey square of the same size on the right
  const auto set = make_particles(img, {3000, 3});
  int left = 0, right = 0;
  for (const auto& p : set.particles) {
    (p.x < 100 ? left : right)++;
    ASSERT_EQ(p.rgb, (p.x < 100 ? std::array<uint8_t, 3>{0, 0, 0} : std::array<uint8_t, 3>{170, 170, 170}));
  }
  EXPECT_NEAR(left, right, 0.05 * set.particles.size());
}

TEST(Particles, BackgroundComesFromTheBorder) {
  Image img = canvas(120, 120, {20, 40, 200});  // blue paper
  paint(img, 40, 40, 80, 80, {230, 30, 30});    // red square
  const auto set = make_particles(img, {1000, 5});
  EXPECT_EQ(set.background, (std::array<uint8_t, 3>{20, 40, 200}));
  ASSERT_FALSE(set.particles.empty());
  int exact = 0;
  for (const auto& p : set.particles) {
    ASSERT_TRUE(p.x >= 40 && p.x < 80 && p.y >= 40 && p.y < 80) << p.x << "," << p.y;
    exact += p.rgb == std::array<uint8_t, 3>{230, 30, 30};
  }
  EXPECT_EQ(exact, static_cast<int>(set.particles.size()));
}

// A 64x64 picture (the bundled model's size) at 8,000 particles is a "pixel image": several dots per pixel on an
// even lattice, each with the exact colour of the pixel under it, none on the paper.
TEST(Particles, SmallPicturesBecomeAPixelImage) {
  Image img = canvas(64, 64, {255, 255, 255});
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      if ((x - 32) * (x - 32) + (y - 32) * (y - 32) < 18 * 18) {
        auto* q = &img.pixels[(y * 64 + x) * 3];
        q[0] = 200, q[1] = uint8_t(40 + 3 * x), q[2] = 30;  // a horizontal colour ramp
      }
  const auto set = make_particles(img, {8000, 1});
  ASSERT_TRUE(about(set.particles.size(), 8000)) << set.particles.size();
  EXPECT_EQ(set.width, 64);
  std::set<std::pair<int, int>> cells;  // quarter-pixel cells hit
  for (const auto& p : set.particles) {
    cells.insert({int(p.x * 4), int(p.y * 4)});
    ASSERT_EQ(p.rgb, pixel(img, int(p.x), int(p.y))) << p.x << "," << p.y;
    ASSERT_LT(p.size, 1.0f) << "sizes are in source pixels";
  }
  EXPECT_GT(cells.size(), 7000u) << "particles stack on the same spots";
}

TEST(Particles, GreyAndTransparentImages) {
  Image grey{64, 64, 1, std::vector<uint8_t>(64 * 64, 255)};
  for (int y = 16; y < 48; ++y)
    for (int x = 16; x < 48; ++x) grey.pixels[y * 64 + x] = 0;
  EXPECT_TRUE(about(make_particles(grey, {500, 0}).particles.size(), 500));

  Image rgba{64, 64, 4, std::vector<uint8_t>(64 * 64 * 4, 0)};  // fully transparent black = white paper
  for (int y = 16; y < 48; ++y)
    for (int x = 16; x < 48; ++x) rgba.pixels[(y * 64 + x) * 4 + 3] = 255;  // opaque black square
  const auto set = make_particles(rgba, {500, 0});
  EXPECT_EQ(set.background, (std::array<uint8_t, 3>{255, 255, 255}));
  for (const auto& p : set.particles) ASSERT_TRUE(p.x >= 15.5 && p.x < 48.5 && p.y >= 15.5 && p.y < 48.5);
}

TEST(Particles, UniformImageHasNone) {
  EXPECT_TRUE(make_particles(canvas(50, 50, {255, 255, 255}), {1000, 0}).particles.empty());
  EXPECT_TRUE(make_particles(canvas(50, 50, {10, 10, 10}), {1000, 0}).particles.empty());
}

TEST(Particles, BadInputIsAnError) {
  EXPECT_THROW(make_particles(Image{}, {1000, 0}), Error);
  EXPECT_THROW(make_particles(Image{4, 4, 3, {1, 2, 3}}, {1000, 0}), Error);
  EXPECT_THROW(make_particles(disc(32, 8), {kMinParticleCount - 1, 0}), Error);
  EXPECT_THROW(make_particles(disc(32, 8), {kMaxParticleCount + 1, 0}), Error);
}

TEST(ParticleFormats, BinaryRoundTripsWithinQuantisation) {
  const auto set = make_particles(disc(300, 90), {2500, 11});
  const std::string bin = particles_to_binary(set);
  ASSERT_EQ(bin.size(), 32 + 8 * set.particles.size());
  EXPECT_EQ(bin.substr(0, 4), "PRTK");
  const auto back = particles_from_binary(bin, "mem");
  EXPECT_EQ(back.width, 300);
  EXPECT_EQ(back.height, 300);
  EXPECT_EQ(back.seed, 11u);
  EXPECT_EQ(back.background, set.background);
  ASSERT_EQ(back.particles.size(), set.particles.size());
  for (size_t i = 0; i < set.particles.size(); ++i) {
    const auto &a = set.particles[i], &b = back.particles[i];
    ASSERT_NEAR(a.x, b.x, 300.0 / 65536 + 1e-4);
    ASSERT_NEAR(a.y, b.y, 300.0 / 65536 + 1e-4);
    ASSERT_EQ(a.rgb, b.rgb);
    ASSERT_GE(b.size, a.size) << "sizes round up";
    ASSERT_LE(b.size, a.size + 1.0 / 8);
  }
}

TEST(ParticleFormats, MalformedBinaryIsAnError) {
  const std::string bin = particles_to_binary(make_particles(disc(64, 20), {200, 0}));
  EXPECT_THROW(particles_from_binary("", "x"), Error);
  EXPECT_THROW(particles_from_binary("NOPE" + bin.substr(4), "x"), Error);
  EXPECT_THROW(particles_from_binary(bin.substr(0, bin.size() - 1), "x"), Error);
}

TEST(ParticleFormats, JsonListsEveryParticle) {
  const auto set = make_particles(disc(100, 30), {300, 4});
  const Json j = Json::parse(particles_to_json(set));
  EXPECT_EQ(j.at("format"), "prtkl.particles");
  EXPECT_EQ(j.at("version"), 1);
  EXPECT_EQ(j.at("width"), 100);
  EXPECT_EQ(j.at("seed"), 4);
  EXPECT_EQ(j.at("background"), Json::array({255, 255, 255}));
  ASSERT_EQ(j.at("count").get<size_t>(), set.particles.size());
  ASSERT_EQ(j.at("particles").size(), set.particles.size());
  const auto& first = j.at("particles")[0];
  ASSERT_EQ(first.size(), 6u);
  EXPECT_NEAR(first[0].get<double>(), set.particles[0].x, 0.006);
  EXPECT_EQ(first[2].get<int>(), set.particles[0].rgb[0]);
}

// The subcommand, with the prtkl binary (the build makes it before every test binary: their CTest environment
// names it).
TEST(ParticlesCli, WritesJsonAndBinaryAndRejectsBadInput) {
  const std::string bin = test::prtkl_binary();
  if (!std::filesystem::exists(bin)) PRTKL_SKIP_OR_FAIL_ON_CI(bin << " is not built");
  const auto dir = test::scratch_dir("cli");
  write_png(dir + "/disc.png", disc(128, 40));
  auto r = test::run_command(bin + " particles " + dir + "/disc.png --out " + dir + "/p.json --count 2000 --seed 9");
  ASSERT_EQ(r.code, 0) << r.output;
  const Json j = Json::parse(read_file(dir + "/p.json"));
  EXPECT_EQ(j.at("seed"), 9);
  EXPECT_TRUE(about(j.at("count").get<size_t>(), 2000)) << j.at("count");
  r = test::run_command(bin + " particles " + dir + "/disc.png --out " + dir +
                        "/p.bin --format bin --count 2000 --seed 9");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir + "/p.bin"), particles_to_binary(make_particles(disc(128, 40), {2000, 9})));
  // --format defaults from the extension
  r = test::run_command(bin + " particles " + dir + "/disc.png --out " + dir + "/q.bin --count 2000 --seed 9");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir + "/q.bin"), read_file(dir + "/p.bin"));

  // --score of a set file: one JSON line
  r = test::run_command(bin + " particles " + dir + "/disc.png --set " + dir + "/p.bin --score --render " + dir +
                        "/drawn.png");
  ASSERT_EQ(r.code, 0) << r.output;
  const Json score = Json::parse(r.output);
  EXPECT_GT(score.at("ssim").get<double>(), 0.9) << r.output;
  EXPECT_EQ(score.at("particles"), j.at("count"));
  EXPECT_EQ(read_image(dir + "/drawn.png").width, 384);

  r = test::run_command(bin + " particles " + dir + "/missing.png --out " + dir + "/x.json");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.png"), std::string::npos) << r.output;
  r = test::run_command(bin + " particles " + dir + "/disc.png --out " + dir + "/x.json --count 5");
  EXPECT_EQ(r.code, 2) << r.output;
  r = test::run_command(bin + " particles " + dir + "/disc.png --out " + dir + "/x.json --format xml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.json"));
}

// A speck of drawing gets a bounded number of dots, not the count asked for, and quickly.
TEST(Particles, ASpeckGetsABoundedNumber) {
  Image img = canvas(256, 256, {255, 255, 255});
  paint(img, 3, 3, 4, 4, {0, 0, 0});
  paint(img, 250, 250, 251, 251, {0, 0, 0});
  const auto set = make_particles(img, {kMaxParticleCount, 0});
  EXPECT_GT(set.particles.size(), 2 * 60u);
  EXPECT_LT(set.particles.size(), 2 * 80u);
  for (const auto& p : set.particles) ASSERT_EQ(p.rgb, (std::array<uint8_t, 3>{0, 0, 0}));
}

// A large picture has cells of several pixels: each dot takes the mean of its cell's pixels of its own colour, so
// at a boundary between two colours no dot takes a blend of both.
TEST(Particles, LargePicturesKeepColourBoundaries) {
  Image img = canvas(512, 512, {255, 255, 255});
  const std::array<uint8_t, 3> red{220, 40, 30}, blue{30, 60, 210};
  paint(img, 100, 100, 251, 400, red);
  paint(img, 251, 100, 400, 400, blue);
  const auto set = make_particles(img, {2000, 1});
  ASSERT_TRUE(about(set.particles.size(), 2000)) << set.particles.size();
  for (const auto& p : set.particles) {
    ASSERT_GT(p.size, 3.0f) << "cells of several pixels";
    ASSERT_EQ(p.rgb, p.x < 251 ? red : blue) << p.x << "," << p.y;
  }
}
