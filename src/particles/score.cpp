#include "particles/score.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "particles/foreground.h"

namespace prtkl {

namespace {

using Rgb = std::array<float, 3>;

struct Grid {
  int w, h;
  std::vector<Rgb> px;
};

// Area-average of the rectangle [x0,x1) x [y0,y1) of a w x h picture onto a gw x gh grid (supersampled densely
// enough to touch every source pixel).
Grid resample(const std::vector<Rgb>& src, int w, int h, double x0, double y0, double x1, double y1, int gw, int gh) {
  Grid g{gw, gh, std::vector<Rgb>(static_cast<size_t>(gw) * gh)};
  const double sx = (x1 - x0) / gw, sy = (y1 - y0) / gh;
  const int nx = std::max(2, static_cast<int>(std::ceil(sx * 2))),
            ny = std::max(2, static_cast<int>(std::ceil(sy * 2)));
  for (int v = 0; v < gh; ++v)
    for (int u = 0; u < gw; ++u) {
      Rgb sum{0, 0, 0};
      for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
          const int x = std::clamp(static_cast<int>(std::floor(x0 + (u + (i + 0.5) / nx) * sx)), 0, w - 1);
          const int y = std::clamp(static_cast<int>(std::floor(y0 + (v + (j + 0.5) / ny) * sy)), 0, h - 1);
          for (int k = 0; k < 3; ++k) sum[k] += src[static_cast<size_t>(y) * w + x][k];
        }
      for (int k = 0; k < 3; ++k) g.px[static_cast<size_t>(v) * gw + u][k] = sum[k] / (nx * ny);
    }
  return g;
}

Grid blur(const Grid& in, double sigma) {
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> kernel(2 * r + 1);
  float total = 0;
  for (int d = -r; d <= r; ++d) total += kernel[d + r] = std::exp(-d * d / (2 * sigma * sigma));
  for (float& k : kernel) k /= total;
  auto pass = [&](const Grid& src, bool horizontal) {
    Grid dst{src.w, src.h, std::vector<Rgb>(src.px.size(), Rgb{0, 0, 0})};
    for (int y = 0; y < src.h; ++y)
      for (int x = 0; x < src.w; ++x)
        for (int d = -r; d <= r; ++d) {
          const int xx = horizontal ? std::clamp(x + d, 0, src.w - 1) : x;
          const int yy = horizontal ? y : std::clamp(y + d, 0, src.h - 1);
          for (int k = 0; k < 3; ++k)
            dst.px[static_cast<size_t>(y) * src.w + x][k] +=
                kernel[d + r] * src.px[static_cast<size_t>(yy) * src.w + xx][k];
        }
    return dst;
  };
  return pass(pass(in, true), false);
}

double luma(const Rgb& c) { return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]; }

// Mean SSIM over 7x7 windows of the luminance of two grids of one size.
double ssim(const Grid& a, const Grid& b) {
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  const int r = 3;
  double total = 0;
  int windows = 0;
  for (int y = r; y < a.h - r; ++y)
    for (int x = r; x < a.w - r; ++x) {
      double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
      for (int dy = -r; dy <= r; ++dy)
        for (int dx = -r; dx <= r; ++dx) {
          const size_t i = static_cast<size_t>(y + dy) * a.w + x + dx;
          const double la = luma(a.px[i]), lb = luma(b.px[i]);
          ma += la, mb += lb, aa += la * la, bb += lb * lb, ab += la * lb;
        }
      const double n = (2 * r + 1) * (2 * r + 1);
      ma /= n, mb /= n;
      const double va = aa / n - ma * ma, vb = bb / n - mb * mb, cov = ab / n - ma * mb;
      total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      ++windows;
    }
  return windows ? total / windows : 1;
}

// sRGB (0-255) to CIE L*a*b* under D65.
std::array<double, 3> lab(const Rgb& c) {
  double lin[3];
  for (int k = 0; k < 3; ++k) {
    const double v = c[k] / 255.0;
    lin[k] = v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  }
  const double x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
  const double y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  const double z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
  auto f = [](double t) { return t > 216.0 / 24389 ? std::cbrt(t) : (24389.0 / 27 * t + 16) / 116; };
  return {116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))};
}

// Colour gradient magnitude (central differences, all channels) at (x, y).
double gradient(const Grid& g, int x, int y) {
  double s = 0;
  const auto& l = g.px[static_cast<size_t>(y) * g.w + x - 1];
  const auto& r = g.px[static_cast<size_t>(y) * g.w + x + 1];
  const auto& u = g.px[static_cast<size_t>(y - 1) * g.w + x];
  const auto& d = g.px[static_cast<size_t>(y + 1) * g.w + x];
  for (int k = 0; k < 3; ++k) s += std::pow((r[k] - l[k]) / 2, 2) + std::pow((d[k] - u[k]) / 2, 2);
  return std::sqrt(s);
}

// A colour edge of the blurred image: a black/white step blurred at kScoreBlur has a gradient of about 68.
constexpr double kEdgeGradient = 20;

}  // namespace

Image render_particles(const ParticleSet& set, int scale) {
  const int w = set.width * scale, h = set.height * scale;
  Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = set.background[i % 3];
  for (const Particle& p : set.particles) {
    const double cx = p.x * scale, cy = p.y * scale, r = std::max(0.5, p.size * scale / 2.0);
    for (int y = std::max(0, static_cast<int>(cy - r)); y <= std::min(h - 1, static_cast<int>(cy + r)); ++y)
      for (int x = std::max(0, static_cast<int>(cx - r)); x <= std::min(w - 1, static_cast<int>(cx + r)); ++x)
        if (std::hypot(x + 0.5 - cx, y + 0.5 - cy) <= r)
          for (int k = 0; k < 3; ++k) img.pixels[(static_cast<size_t>(y) * w + x) * 3 + k] = p.rgb[k];
  }
  return img;
}

ParticleScore score_particles(const Image& image, const ParticleSet& set) {
  if (image.width != set.width || image.height != set.height)
    fail("particles: the set is for a ", set.width, "x", set.height, " image, not ", image.width, "x", image.height);
  const Foreground fg = find_foreground(image);
  int x0 = image.width, y0 = image.height, x1 = 0, y1 = 0;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      if (fg.drawing[static_cast<size_t>(y) * image.width + x])
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
  if (x1 == 0) return {};
  x0 = std::max(0, x0 - 1), y0 = std::max(0, y0 - 1), x1 = std::min(image.width, x1 + 1),
  y1 = std::min(image.height, y1 + 1);
  const int long_side = std::max(x1 - x0, y1 - y0);
  const int gw = std::max(8, static_cast<int>(std::lround(double(kScoreSide) * (x1 - x0) / long_side)));
  const int gh = std::max(8, static_cast<int>(std::lround(double(kScoreSide) * (y1 - y0) / long_side)));

  const int k =
      std::max(1, (4 * kScoreSide + std::max(image.width, image.height) - 1) / std::max(image.width, image.height));
  const Image drawn = render_particles(set, k);
  const Grid a = blur(resample(image_rgb(image), image.width, image.height, x0, y0, x1, y1, gw, gh), kScoreBlur);
  const Grid b =
      blur(resample(image_rgb(drawn), drawn.width, drawn.height, x0 * k, y0 * k, x1 * k, y1 * k, gw, gh), kScoreBlur);

  ParticleScore s;
  s.ssim = ssim(a, b);
  double rgb = 0, de = 0;
  for (size_t i = 0; i < a.px.size(); ++i) {
    rgb += std::hypot(a.px[i][0] - b.px[i][0], a.px[i][1] - b.px[i][1], a.px[i][2] - b.px[i][2]);
    const auto la = lab(a.px[i]), lb = lab(b.px[i]);
    de += std::hypot(la[0] - lb[0], la[1] - lb[1], la[2] - lb[2]);
  }
  s.colour_error = rgb / a.px.size();
  s.delta_e = de / a.px.size();
  int edges = 0, kept = 0;
  for (int y = 1; y < gh - 1; ++y)
    for (int x = 1; x < gw - 1; ++x) {
      const double g = gradient(a, x, y);
      if (g < kEdgeGradient) continue;
      ++edges;
      kept += gradient(b, x, y) >= 0.5 * g;
    }
  s.edge_recall = edges ? double(kept) / edges : 1;
  return s;
}

}  // namespace prtkl
