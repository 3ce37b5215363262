#include "particles/particles.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "particles/foreground.h"

namespace prtkl {

namespace {

// Within a cell larger than this (source pixels), a particle takes the mean colour of the cell's pixels near its
// own pixel's colour; smaller cells take their pixel's exact colour.
constexpr double kExactColourPitch = 1.5;
// "Near" for that mean (Euclidean RGB): the two sides of a colour boundary stay apart, so dots line up on both.
constexpr float kSameColour = 60.0f;
// The finest lattice (source pixels): a speck of drawing gets at most about 74 dots a pixel, not `count` of them,
// and the lattice's scans stay bounded.
constexpr double kMinPitch = 0.125;

// A hexagonal lattice with its origin at the image's top-left corner: point (i, j) sits at
// ((i + 0.5 + (j odd ? 0.5 : 0)) * pitch, (j + 0.5) * row).
struct Lattice {
  double pitch, row;
  double x(int i, int j) const { return (i + 0.5 + 0.5 * (j & 1)) * pitch; }
  double y(int j) const { return (j + 0.5) * row; }
};

Lattice hex(double pitch) { return {pitch, pitch * std::sqrt(3.0) / 2}; }

struct Box {
  int x0, y0, x1, y1;  // drawing pixels lie in [x0,x1) x [y0,y1)
};

Box drawing_box(const Foreground& fg) {
  Box b{fg.width, fg.height, 0, 0};
  for (int y = 0; y < fg.height; ++y)
    for (int x = 0; x < fg.width; ++x)
      if (fg.drawing[static_cast<size_t>(y) * fg.width + x])
        b = {std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x + 1), std::max(b.y1, y + 1)};
  return b;
}

// Calls visit(i, j, x, y) for every lattice point on the drawing. Positions are rounded to float first, as they are
// stored, so a point on a pixel's edge is on the pixel it will be drawn on.
template <typename Visit>
void for_each_point(const Foreground& fg, const Box& box, const Lattice& l, Visit&& visit) {
  const int j0 = std::max(0, static_cast<int>(box.y0 / l.row) - 1), j1 = static_cast<int>(box.y1 / l.row) + 1;
  for (int j = j0; j <= j1; ++j) {
    const float y = static_cast<float>(l.y(j));
    if (y < box.y0 || y >= box.y1) continue;
    const int i0 = std::max(0, static_cast<int>(box.x0 / l.pitch) - 1), i1 = static_cast<int>(box.x1 / l.pitch) + 1;
    for (int i = i0; i <= i1; ++i) {
      const float x = static_cast<float>(l.x(i, j));
      if (x < box.x0 || x >= box.x1) continue;
      if (fg.drawing[static_cast<size_t>(y) * fg.width + static_cast<size_t>(x)]) visit(i, j, x, y);
    }
  }
}

int64_t points_on_drawing(const Foreground& fg, const Box& box, double pitch) {
  int64_t n = 0;
  for_each_point(fg, box, hex(pitch), [&](int, int, float, float) { ++n; });
  return n;
}

// The widest pitch whose lattice puts at least `count` points on the drawing (bisection: the count falls as the
// pitch grows, give or take a point at the rim), but no finer than kMinPitch.
double pitch_for(const Foreground& fg, const Box& box, int count) {
  const double guess = std::sqrt(2.0 * fg.area / (std::sqrt(3.0) * count));
  double lo = std::max(kMinPitch, guess * 0.75), hi = std::max(2 * kMinPitch, guess * 1.5);
  while (points_on_drawing(fg, box, lo) < count) {
    if (lo == kMinPitch) return lo;
    lo = std::max(kMinPitch, lo / 2);
  }
  while (points_on_drawing(fg, box, hi) >= count) hi *= 2;
  for (int k = 0; k < 24; ++k) {
    const double mid = (lo + hi) / 2;
    (points_on_drawing(fg, box, mid) >= count ? lo : hi) = mid;
  }
  return lo;
}

// Rank of (x, y) in the 2^bits x 2^bits ordered-dither (Bayer) matrix: its lowest bits pick the coarsest split, so
// the points ranked first are spread over the whole lattice and every prefix stays even.
uint64_t dither_rank(uint32_t x, uint32_t y, int bits) {
  uint64_t r = 0;
  for (int b = 0; b < bits; ++b) {
    const uint32_t xb = (x >> b) & 1, yb = (y >> b) & 1;
    r = (r << 2) | (((xb ^ yb) << 1) | yb);
  }
  return r;
}

std::array<uint8_t, 3> cell_colour(const Foreground& fg, const Lattice& l, float x, float y) {
  const size_t centre = static_cast<size_t>(y) * fg.width + static_cast<size_t>(x);
  const auto& own = fg.colour[centre];
  std::array<double, 3> sum{};
  int n = 0;
  if (l.pitch > kExactColourPitch) {
    const int xa = std::max(0, static_cast<int>(std::ceil(x - l.pitch / 2 - 0.5)));
    const int xb = std::min(fg.width - 1, static_cast<int>(std::floor(x + l.pitch / 2 - 0.5)));
    const int ya = std::max(0, static_cast<int>(std::ceil(y - l.row / 2 - 0.5)));
    const int yb = std::min(fg.height - 1, static_cast<int>(std::floor(y + l.row / 2 - 0.5)));
    for (int yy = ya; yy <= yb; ++yy)
      for (int xx = xa; xx <= xb; ++xx) {
        const size_t i = static_cast<size_t>(yy) * fg.width + xx;
        const auto& c = fg.colour[i];
        const float d = std::hypot(c[0] - own[0], c[1] - own[1], c[2] - own[2]);
        if (!fg.drawing[i] || d > kSameColour) continue;
        for (int k = 0; k < 3; ++k) sum[k] += c[k];
        ++n;
      }
  }
  if (n == 0) sum = {own[0], own[1], own[2]}, n = 1;
  std::array<uint8_t, 3> rgb;
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<uint8_t>(std::lround(std::clamp(sum[k] / n, 0.0, 255.0)));
  return rgb;
}

}  // namespace

ParticleSet make_particles(const Image& img, const ParticleOptions& opt) {
  if (opt.count < kMinParticleCount || opt.count > kMaxParticleCount)
    fail("particles: count ", opt.count, " is outside ", kMinParticleCount, "..", kMaxParticleCount);
  const Foreground fg = find_foreground(img);
  ParticleSet set;
  set.width = img.width, set.height = img.height, set.seed = opt.seed, set.background = fg.background;
  if (fg.area == 0) return set;

  const Box box = drawing_box(fg);
  const Lattice l = hex(pitch_for(fg, box, opt.count));
  // The seed shifts the dither matrix over the lattice: another seed, another (equally even) order.
  const int cols = static_cast<int>(img.width / l.pitch) + 2, rows = static_cast<int>(img.height / l.row) + 2;
  int bits = 0;
  while ((1 << bits) < std::max(cols, rows)) ++bits;
  std::mt19937_64 rng(opt.seed);
  const uint32_t mask = (1u << bits) - 1, ox = rng() & mask, oy = rng() & mask;
  struct Point {
    uint64_t rank;
    float x, y;
  };
  std::vector<Point> points;
  for_each_point(fg, box, l, [&](int i, int j, float x, float y) {
    points.push_back({dither_rank((i + ox) & mask, (j + oy) & mask, bits), x, y});
  });
  // All of them: dropping the few over the count would leave holes in the picture.
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.rank < b.rank; });

  // The disc around a hexagonal cell (its corners at pitch / sqrt(3)): discs of this size tile the drawing.
  const float size = static_cast<float>(2 * l.pitch / std::sqrt(3.0));
  set.particles.reserve(points.size());
  for (const Point& p : points) set.particles.push_back({p.x, p.y, cell_colour(fg, l, p.x, p.y), size});
  return set;
}

}  // namespace prtkl
