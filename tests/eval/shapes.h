// Synthetic pictures for the judge tests: one of four shapes (red disc, blue square, green triangle, orange ring)
// with a random tint, position and size on white, 64×64 like the emoji pictures.
#pragma once
#include <algorithm>
#include <cmath>
#include <random>

#include "core/image.h"

namespace prtkl::test {

constexpr int kShapes = 4;

inline Image shape_picture(int shape, std::mt19937& rng, int size = 64) {
  static const uint8_t kColors[kShapes][3] = {{220, 40, 40}, {40, 80, 220}, {40, 170, 60}, {240, 150, 20}};
  std::uniform_int_distribution<int> shift(-8, 8), radius(12, 18), tint(-30, 30);
  const double cx = size / 2.0 + shift(rng), cy = size / 2.0 + shift(rng), r = radius(rng);
  uint8_t color[3];
  for (int c = 0; c < 3; ++c) color[c] = uint8_t(std::clamp(kColors[shape][c] + tint(rng), 0, 255));
  Image img{size, size, 3, std::vector<uint8_t>(size_t(size) * size * 3, 255)};
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double dx = x - cx, dy = y - cy, d = std::sqrt(dx * dx + dy * dy);
      bool on = false;
      if (shape == 0) on = d < r;
      if (shape == 1) on = std::abs(dx) < r * 0.8 && std::abs(dy) < r * 0.8;
      if (shape == 2) on = dy < r * 0.7 && dy > -r && std::abs(dx) < (dy + r) * 0.6;
      if (shape == 3) on = std::abs(d - r * 0.8) < 3;
      if (on) std::copy_n(color, 3, &img.pixels[(size_t(y) * size + x) * 3]);
    }
  return img;
}

}  // namespace prtkl::test
