// What of a picture is the drawing and what is the paper it is drawn on. The paper is the region connected to the
// border whose colour stays near the border's colour (a flood fill), so white inside a drawing (eye whites, teeth,
// the gap between two figures that does not reach the edge) stays drawing. The drawing's rim, where antialiasing
// blends it with the paper, is un-blended: a pixel mostly paper joins the paper, the rest take the colour they blend
// from, so no pale halo survives.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/image.h"

namespace prtkl {

struct Foreground {
  int width = 0, height = 0;
  std::array<uint8_t, 3> background{};       // the border's median colour
  std::vector<uint8_t> drawing;              // per pixel: 1 = drawing, 0 = paper
  std::vector<std::array<float, 3>> colour;  // per pixel RGB, the rim un-blended from the paper
  int64_t area = 0;                          // drawing pixels
};

// Throws prtkl::Error for an image whose size and pixel buffer disagree.
Foreground find_foreground(const Image& image);

// Every supported layout (grey, grey+alpha, RGB, RGBA) as RGB; transparent pixels become white, the usual paper, so
// a cut-out on a transparent canvas samples like one on paper.
std::vector<std::array<float, 3>> image_rgb(const Image& image);

}  // namespace prtkl
