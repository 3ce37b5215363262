#include "particles/foreground.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace prtkl {

namespace {

using Rgb = std::array<float, 3>;

// A colour this close to the paper's (Euclidean RGB, of 441 for black on white) is paper where it touches the paper:
// noise and the faintest antialiasing. Pale drawing is often not much farther (a white cloud's pale blue is 33 from
// white); the rim between them is left to the un-blending below.
constexpr float kPaperTolerance = 20.0f;
// A rim pixel whose colour is less than this share of the way from the paper to its drawing is paper.
constexpr float kMinCoverage = 0.5f;
// One this close to its drawing colour keeps its own colour (a shade, not a blend).
constexpr float kFullCoverage = 0.95f;
// How far (Euclidean RGB) a rim pixel may lie off the paper-to-drawing line and still count as a blend of the two.
constexpr float kBlendTolerance = 24.0f;

// Per-channel median of a ring along the border: robust to an object touching the edge in a few places.
std::array<uint8_t, 3> border_colour(const std::vector<Rgb>& px, int w, int h) {
  const int ring = std::max(1, std::min(w, h) / 32);
  std::vector<float> ch[3];
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      if (x >= ring && x < w - ring && y >= ring && y < h - ring) continue;
      for (int k = 0; k < 3; ++k) ch[k].push_back(px[static_cast<size_t>(y) * w + x][k]);
    }
  std::array<uint8_t, 3> bg{};
  for (int k = 0; k < 3; ++k) {
    auto mid = ch[k].begin() + ch[k].size() / 2;
    std::nth_element(ch[k].begin(), mid, ch[k].end());
    bg[k] = static_cast<uint8_t>(std::lround(*mid));
  }
  return bg;
}

float distance(const Rgb& a, const Rgb& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

}  // namespace

std::vector<Rgb> image_rgb(const Image& img) {
  const size_t n = static_cast<size_t>(img.width) * img.height;
  std::vector<Rgb> out(n);
  const int c = img.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &img.pixels[i * c];
    Rgb v = c >= 3 ? Rgb{float(p[0]), float(p[1]), float(p[2])} : Rgb{float(p[0]), float(p[0]), float(p[0])};
    if (c == 2 || c == 4) {
      const float a = p[c - 1] / 255.0f;
      for (float& ch : v) ch = ch * a + 255 * (1 - a);
    }
    out[i] = v;
  }
  return out;
}

Foreground find_foreground(const Image& img) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    fail("particles: image of ", img.width, "x", img.height, "x", img.channels, " has ", img.pixels.size(), " bytes");
  const int w = img.width, h = img.height;
  Foreground fg;
  fg.width = w, fg.height = h;
  fg.colour = image_rgb(img);
  fg.background = border_colour(fg.colour, w, h);
  const Rgb bg{float(fg.background[0]), float(fg.background[1]), float(fg.background[2])};

  // Paper: flood fill from the border through colours near the paper's.
  const size_t n = static_cast<size_t>(w) * h;
  fg.drawing.assign(n, 1);
  std::vector<uint32_t> stack;
  auto visit = [&](int x, int y) {
    const size_t i = static_cast<size_t>(y) * w + x;
    if (fg.drawing[i] && distance(fg.colour[i], bg) <= kPaperTolerance) fg.drawing[i] = 0, stack.push_back(i);
  };
  for (int x = 0; x < w; ++x) visit(x, 0), visit(x, h - 1);
  for (int y = 0; y < h; ++y) visit(0, y), visit(w - 1, y);
  while (!stack.empty()) {
    const uint32_t i = stack.back();
    stack.pop_back();
    const int x = i % w, y = i / w;
    if (x > 0) visit(x - 1, y);
    if (x + 1 < w) visit(x + 1, y);
    if (y > 0) visit(x, y - 1);
    if (y + 1 < h) visit(x, y + 1);
  }

  // The rim: drawing pixels beside the paper. A rim pixel that lies on the line from the paper's colour to a nearby,
  // more distinct drawing colour is a blend of the two; how far along the line it lies is its coverage.
  auto paper_beside = [&](int x, int y) {
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int xx = x + dx, yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < w && yy < h && !fg.drawing[static_cast<size_t>(yy) * w + xx]) return true;
      }
    return false;
  };
  struct Unblended {
    size_t pixel;
    bool paper;
    Rgb colour;
  };
  std::vector<Unblended> rim;  // applied after the scan, which must see the original colours
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      if (!fg.drawing[i] || !paper_beside(x, y)) continue;
      const Rgb& c = fg.colour[i];
      const float own = distance(c, bg);
      // Of the colours it could be a blend of, the most distinct: a neighbour may be a blend itself.
      float best_reach = own, best_coverage = 1;
      const Rgb* blended_from = nullptr;
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx) {
          const int xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h || !fg.drawing[static_cast<size_t>(yy) * w + xx]) continue;
          const Rgb& f = fg.colour[static_cast<size_t>(yy) * w + xx];
          const float reach = distance(f, bg);
          if (reach <= best_reach) continue;
          float along = 0;
          for (int k = 0; k < 3; ++k) along += (c[k] - bg[k]) * (f[k] - bg[k]);
          const float coverage = along / (reach * reach);
          Rgb off;
          for (int k = 0; k < 3; ++k) off[k] = c[k] - bg[k] - coverage * (f[k] - bg[k]);
          const float residual = distance(off, {0, 0, 0});
          if (residual < kBlendTolerance && reach > best_reach)
            best_reach = reach, best_coverage = coverage, blended_from = &f;
        }
      if (!blended_from || best_coverage >= kFullCoverage) continue;
      if (best_coverage < kMinCoverage)
        rim.push_back({i, true, bg});
      else
        rim.push_back({i, false, *blended_from});
    }
  for (const auto& u : rim) {
    if (u.paper) fg.drawing[u.pixel] = 0;
    fg.colour[u.pixel] = u.colour;
  }
  fg.area = std::count(fg.drawing.begin(), fg.drawing.end(), uint8_t{1});
  return fg;
}

}  // namespace prtkl
