#pragma once
// A grid of equal cells on a plain background with optional left and top margins for labels: the one layout of
// every picture sheet (the eval's samples, the sweep's checkpoints × prompts, the word sheet). Labels are drawn
// onto image() with core/text_render.h.

#include <cstdint>

#include "core/image.h"

namespace prtkl {

class PictureSheet {
 public:
  PictureSheet(int cols, int rows, int cell_w, int cell_h, uint8_t background, int left = 0, int top = 0);

  // The top-left pixel of a cell.
  int cell_x(int col) const { return left_ + col * cell_w_; }
  int cell_y(int row) const { return top_ + row * cell_h_; }
  // `picture` (grey, RGB or RGBA; alpha dropped) at (x, y), scaled by nearest neighbour to w × h (0: its own
  // size), clipped at the sheet's edges.
  void paste(const Image& picture, int x, int y, int w = 0, int h = 0);
  Image& image() { return sheet_; }

 private:
  int cell_w_, cell_h_, left_, top_;
  Image sheet_;
};

}  // namespace prtkl
