#include "particles/particles.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace prtkl {

namespace {

struct Rgb {
  float r, g, b;
};

// Every supported layout (grey, grey+alpha, RGB, RGBA) as RGB; transparent pixels become white, the usual
// background, so a cut-out on a transparent canvas samples like one on paper.
std::vector<Rgb> to_rgb(const Image& img) {
  const size_t n = static_cast<size_t>(img.width) * img.height;
  std::vector<Rgb> out(n);
  const int c = img.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &img.pixels[i * c];
    Rgb v = c >= 3 ? Rgb{float(p[0]), float(p[1]), float(p[2])} : Rgb{float(p[0]), float(p[0]), float(p[0])};
    if (c == 2 || c == 4) {
      const float a = p[c - 1] / 255.0f;
      v = {v.r * a + 255 * (1 - a), v.g * a + 255 * (1 - a), v.b * a + 255 * (1 - a)};
    }
    out[i] = v;
  }
  return out;
}

// Per-channel median of a ring along the border: robust to an object touching the edge in a few places.
std::array<uint8_t, 3> border_colour(const std::vector<Rgb>& px, int w, int h) {
  const int ring = std::max(1, std::min(w, h) / 32);
  std::vector<float> ch[3];
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      if (x >= ring && x < w - ring && y >= ring && y < h - ring) continue;
      const Rgb& v = px[static_cast<size_t>(y) * w + x];
      ch[0].push_back(v.r), ch[1].push_back(v.g), ch[2].push_back(v.b);
    }
  std::array<uint8_t, 3> bg{};
  for (int k = 0; k < 3; ++k) {
    auto mid = ch[k].begin() + ch[k].size() / 2;
    std::nth_element(ch[k].begin(), mid, ch[k].end());
    bg[k] = static_cast<uint8_t>(std::lround(*mid));
  }
  return bg;
}

float smoothstep(float lo, float hi, float v) {
  const float t = std::clamp((v - lo) / (hi - lo), 0.0f, 1.0f);
  return t * t * (3 - 2 * t);
}

// Separable box blur with clamped edges.
std::vector<float> box_blur(const std::vector<float>& in, int w, int h, int r) {
  std::vector<float> tmp(in.size()), out(in.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float s = 0;
      for (int d = -r; d <= r; ++d) s += in[static_cast<size_t>(y) * w + std::clamp(x + d, 0, w - 1)];
      tmp[static_cast<size_t>(y) * w + x] = s / (2 * r + 1);
    }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float s = 0;
      for (int d = -r; d <= r; ++d) s += tmp[static_cast<size_t>(std::clamp(y + d, 0, h - 1)) * w + x];
      out[static_cast<size_t>(y) * w + x] = s / (2 * r + 1);
    }
  return out;
}

// Position `d` along the Hilbert curve filling an n x n grid (n a power of two). Walking pixels in this order
// keeps neighbours on the curve close in the plane, so evenly spaced picks along it spread evenly in 2-D.
void hilbert_point(uint32_t n, uint64_t d, uint32_t& x, uint32_t& y) {
  x = y = 0;
  for (uint32_t s = 1; s < n; s *= 2) {
    const uint32_t rx = 1 & static_cast<uint32_t>(d / 2);
    const uint32_t ry = 1 & static_cast<uint32_t>(d ^ rx);
    if (ry == 0) {
      if (rx == 1) x = s - 1 - x, y = s - 1 - y;
      std::swap(x, y);
    }
    x += s * rx;
    y += s * ry;
    d /= 4;
  }
}

// Small pictures (the bundled model draws 64x64) are sampled from a bilinear enlargement to at least this side:
// thousands of particles then take smooth colours and edges instead of stacking on the same few pixels.
constexpr int kMinSampledSide = 256;

std::vector<Rgb> upsample_bilinear(const std::vector<Rgb>& px, int w, int h, int k) {
  const int W = w * k, H = h * k;
  std::vector<Rgb> out(static_cast<size_t>(W) * H);
  for (int Y = 0; Y < H; ++Y) {
    const float fy = std::clamp((Y + 0.5f) / k - 0.5f, 0.0f, float(h - 1));
    const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, h - 1);
    const float ty = fy - y0;
    for (int X = 0; X < W; ++X) {
      const float fx = std::clamp((X + 0.5f) / k - 0.5f, 0.0f, float(w - 1));
      const int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, w - 1);
      const float tx = fx - x0;
      auto at = [&](int x, int y) { return px[static_cast<size_t>(y) * w + x]; };
      auto mix = [&](float a, float b, float c, float d) {
        return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
      };
      const Rgb a = at(x0, y0), b = at(x1, y0), c = at(x0, y1), d = at(x1, y1);
      out[static_cast<size_t>(Y) * W + X] = {mix(a.r, b.r, c.r, d.r), mix(a.g, b.g, c.g, d.g), mix(a.b, b.b, c.b, d.b)};
    }
  }
  return out;
}

// [0,1) from 53 random bits: std::uniform_real_distribution differs between standard libraries.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

ParticleSet make_particles(const Image& img, const ParticleOptions& opt) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    fail("particles: image of ", img.width, "x", img.height, "x", img.channels, " has ", img.pixels.size(), " bytes");
  if (opt.count < kMinParticleCount || opt.count > kMaxParticleCount)
    fail("particles: count ", opt.count, " is outside ", kMinParticleCount, "..", kMaxParticleCount);
  const int k = (std::max(img.width, img.height) + kMinSampledSide - 1) / std::max(img.width, img.height);
  const int w = img.width * k, h = img.height * k;  // the sampled grid; particles come back in image pixels
  const auto px = k > 1 ? upsample_bilinear(to_rgb(img), img.width, img.height, k) : to_rgb(img);

  ParticleSet set;
  set.width = img.width, set.height = img.height, set.seed = opt.seed;
  set.background = border_colour(px, w, h);
  const Rgb bg{float(set.background[0]), float(set.background[1]), float(set.background[2])};

  // Contrast: distance from the background relative to the farthest colour there is (1 = black on white).
  const float far = std::sqrt(std::pow(std::max(bg.r, 255 - bg.r), 2.0f) + std::pow(std::max(bg.g, 255 - bg.g), 2.0f) +
                              std::pow(std::max(bg.b, 255 - bg.b), 2.0f));
  std::vector<float> contrast(px.size()), luma(px.size());
  for (size_t i = 0; i < px.size(); ++i) {
    const Rgb& v = px[i];
    contrast[i] = std::sqrt((v.r - bg.r) * (v.r - bg.r) + (v.g - bg.g) * (v.g - bg.g) + (v.b - bg.b) * (v.b - bg.b)) / far;
    luma[i] = (0.299f * v.r + 0.587f * v.g + 0.114f * v.b) / 255.0f;
  }

  // Weight = foreground mask x (a floor + contrast + edge strength). The mask's soft threshold ignores JPEG
  // noise and paper texture; the floor keeps light but distinct regions visible.
  std::vector<float> weight(px.size(), 0.0f);
  double total = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const float fg = smoothstep(0.05f, 0.15f, contrast[i]);
      if (fg == 0) continue;
      auto L = [&](int dx, int dy) {
        return luma[static_cast<size_t>(std::clamp(y + dy, 0, h - 1)) * w + std::clamp(x + dx, 0, w - 1)];
      };
      const float gx = L(1, -1) + 2 * L(1, 0) + L(1, 1) - L(-1, -1) - 2 * L(-1, 0) - L(-1, 1);
      const float gy = L(-1, 1) + 2 * L(0, 1) + L(1, 1) - L(-1, -1) - 2 * L(0, -1) - L(1, -1);
      const float detail = std::min(1.0f, std::sqrt(gx * gx + gy * gy) * 0.5f);
      weight[i] = fg * (0.2f + 0.5f * contrast[i] + 0.3f * detail);
      total += weight[i];
    }
  if (total <= 0) return set;

  // Systematic sampling along the Hilbert curve: one random offset, then picks every total/count of weight.
  std::mt19937_64 rng(opt.seed);
  const double step = total / opt.count;
  double next = unit(rng) * step, acc = 0;
  uint32_t n = 1;
  while (n < static_cast<uint32_t>(std::max(w, h))) n *= 2;
  std::vector<uint32_t> picks;
  picks.reserve(opt.count);
  for (uint64_t d = 0; d < uint64_t(n) * n && static_cast<int>(picks.size()) < opt.count; ++d) {
    uint32_t x, y;
    hilbert_point(n, d, x, y);
    if (x >= static_cast<uint32_t>(w) || y >= static_cast<uint32_t>(h)) continue;
    const uint32_t i = y * w + x;
    acc += weight[i];
    for (; next < acc && static_cast<int>(picks.size()) < opt.count; next += step) picks.push_back(i);
  }

  // Size: the diameter of the disc each particle would cover at the local density, so the dots tile the shape
  // (slightly overlapping) instead of leaving holes in sparse light regions.
  const auto local = box_blur(weight, w, h, std::max(2, std::min(w, h) / 64));
  const float max_size = std::min(31.0f, std::max(1.0f, std::min(w, h) / 48.0f));
  set.particles.reserve(picks.size());
  for (uint32_t i : picks) {
    const double per_pixel = opt.count * std::max(local[i], 1e-6f) / total;
    const float size = std::clamp(static_cast<float>(1.15 / std::sqrt(per_pixel)), 0.5f, max_size);
    const Rgb& v = px[i];
    Particle p;
    p.x = std::min(static_cast<float>((i % w + unit(rng)) / k), std::nextafter(float(set.width), 0.0f));
    p.y = std::min(static_cast<float>((i / w + unit(rng)) / k), std::nextafter(float(set.height), 0.0f));
    p.rgb = {static_cast<uint8_t>(std::lround(v.r)), static_cast<uint8_t>(std::lround(v.g)),
             static_cast<uint8_t>(std::lround(v.b))};
    p.size = size / k;
    set.particles.push_back(p);
  }
  for (size_t k = set.particles.size(); k > 1; --k) std::swap(set.particles[k - 1], set.particles[rng() % k]);
  return set;
}

}  // namespace prtkl
