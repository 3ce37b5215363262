// Small synthetic pictures for the particle tests.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/image.h"

namespace prtkl::test {

inline Image canvas(int w, int h, std::array<uint8_t, 3> fill) {
  Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = fill[i % 3];
  return img;
}

inline void paint(Image& img, int x0, int y0, int x1, int y1, std::array<uint8_t, 3> c) {
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      for (int k = 0; k < 3; ++k) img.pixels[(static_cast<size_t>(y) * img.width + x) * 3 + k] = c[k];
}

inline std::array<uint8_t, 3> pixel(const Image& img, int x, int y) {
  const uint8_t* p = &img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels];
  return {p[0], p[1], p[2]};
}

// A disc of colour `c` and radius r centred at (cx, cy), antialiased as a renderer would: each pixel blends the
// colour over what is there by the share of its 4x4 subsamples inside the disc.
inline void paint_disc(Image& img, float cx, float cy, float r, std::array<uint8_t, 3> c) {
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      int inside = 0;
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) inside += std::hypot(x + (i + 0.5f) / 4 - cx, y + (j + 0.5f) / 4 - cy) < r;
      if (inside == 0) continue;
      uint8_t* p = &img.pixels[(static_cast<size_t>(y) * img.width + x) * 3];
      for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::lround(p[k] + (c[k] - p[k]) * inside / 16.0f));
    }
}

// A black disc of radius r centred in a white square image (hard edged).
inline Image disc(int size, float r) {
  Image img = canvas(size, size, {255, 255, 255});
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      if (std::hypot(x + 0.5f - size / 2.0f, y + 0.5f - size / 2.0f) < r) paint(img, x, y, x + 1, y + 1, {0, 0, 0});
  return img;
}

// A set's size against the count asked for: at least that many, at most 1 % more (a lattice's last rows).
inline bool about(size_t n, size_t count) { return n >= count && n <= count + count / 100; }

inline float luma(std::array<uint8_t, 3> c) { return 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]; }

}  // namespace prtkl::test
