// Image -> particle set (make_particles, single-threaded) on the two sizes that matter: the bundled model's 64x64
// picture and SDXL's 1024x1024, both drawn like the models draw (figures with outlines on white paper; the large
// one also with a full-frame textured scene), 8,000 particles each (the server's default). Issue 39's targets:
// <= 20 ms at 64x64, <= 150 ms at 1024x1024, on one core.
#include "particles/particles.h"

#include <benchmark/benchmark.h>

#include <cmath>

namespace {

// `side` x `side`: white paper, a large disc with an outline, two smaller discs, a stripe pattern; with `scene`
// the paper is replaced by a smooth gradient with noise (a photograph-like picture with no flat background).
prtkl::Image picture(int side, bool scene) {
  prtkl::Image img{side, side, 3, std::vector<uint8_t>(static_cast<size_t>(side) * side * 3)};
  uint32_t noise = 12345;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const float u = (x + 0.5f) / side, v = (y + 0.5f) / side;
      noise = noise * 1664525u + 1013904223u;
      float rgb[3] = {255, 255, 255};
      if (scene) rgb[0] = 120 + 80 * u, rgb[1] = 160 - 60 * v, rgb[2] = 200 + (noise >> 28);
      const float d = std::hypot(u - 0.5f, v - 0.55f);
      if (d < 0.36f) rgb[0] = 40, rgb[1] = 40, rgb[2] = 60;
      if (d < 0.34f) rgb[0] = 250, rgb[1] = 200, rgb[2] = 60;
      if (std::hypot(u - 0.4f, v - 0.45f) < 0.05f || std::hypot(u - 0.6f, v - 0.45f) < 0.05f)
        rgb[0] = rgb[1] = rgb[2] = 30;
      if (v > 0.68f && v < 0.72f && u > 0.35f && u < 0.65f && static_cast<int>(u * 40) % 2) rgb[0] = 200, rgb[1] = 40;
      for (int k = 0; k < 3; ++k)
        img.pixels[(static_cast<size_t>(y) * side + x) * 3 + k] = static_cast<uint8_t>(rgb[k]);
    }
  return img;
}

void BM_MakeParticles(benchmark::State& state) {
  const prtkl::Image img = picture(static_cast<int>(state.range(0)), state.range(1) != 0);
  size_t n = 0;
  for (auto _ : state) n = prtkl::make_particles(img, {8000, 1}).particles.size();
  state.counters["particles"] = static_cast<double>(n);
}

}  // namespace

BENCHMARK(BM_MakeParticles)
    ->ArgNames({"side", "scene"})
    ->Args({64, 0})
    ->Args({512, 0})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
