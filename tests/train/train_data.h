// A small synthetic particle-art set for trainer tests: dark dots in simple shapes on white, with captions, and the
// run on it that the trainer tests start from.
#pragma once
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/image.h"
#include "support/fixtures.h"
#include "train/train_config.h"

namespace prtkl::test {

// Writes `count` images (size × size, shape i % 3: ring, bar, blob) with .txt captions into `dir`.
inline void write_shapes_dataset(const std::string& dir, int count, int size = 32, int height = 0) {
  std::filesystem::create_directories(dir);
  const char* names[] = {"a ring", "a bar", "a blob"};
  const int h = height > 0 ? height : size;
  for (int i = 0; i < count; ++i) {
    Image img{size, h, 3, std::vector<uint8_t>(size_t(size) * h * 3, 255)};
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < size; ++x) {
        const double dx = x - size / 2.0, dy = y - h / 2.0, r = std::sqrt(dx * dx + dy * dy);
        bool on = false;
        if (i % 3 == 0) on = std::abs(r - size / 3.5) < 2.5;
        if (i % 3 == 1) on = std::abs(dy) < 3 && std::abs(dx) < size / 3.0;
        if (i % 3 == 2) on = r < size / 4.0 && ((x + y + i) % 3 != 0);
        if (!on) continue;
        auto* p = &img.pixels[(size_t(y) * size + x) * 3];
        p[0] = uint8_t(20 + 30 * (i % 4));
        p[1] = 30;
        p[2] = uint8_t(60 + 20 * (i % 5));
      }
    char name[32];
    std::snprintf(name, sizeof name, "img%02d", i);
    write_png(dir + "/" + name + ".png", img);
    std::ofstream(dir + "/" + name + ".txt") << names[i % 3] << " made of particles";
  }
}

// A fresh scratch folder `name` with `images` shape pictures in data/, and a config that trains the tiny SD 1.5
// fixture on them at 32x32 into run/; every other option at its default.
inline TrainConfig shapes_run(const std::string& name, int images) {
  const auto dir = scratch_dir(name);
  write_shapes_dataset(dir + "/data", images);
  TrainConfig c;
  c.model = fixture_path("tiny-sd15");
  c.data = dir + "/data";
  c.output_dir = dir + "/run";
  c.resolution = 32;
  return c;
}

}  // namespace prtkl::test
