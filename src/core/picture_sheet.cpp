#include "core/picture_sheet.h"

#include <algorithm>

#include "core/error.h"

namespace prtkl {

PictureSheet::PictureSheet(int cols, int rows, int cell_w, int cell_h, uint8_t background, int left, int top)
    : cell_w_(cell_w), cell_h_(cell_h), left_(left), top_(top) {
  if (cols < 1 || rows < 1 || cell_w < 1 || cell_h < 1 || left < 0 || top < 0)
    fail("picture sheet: ", cols, " x ", rows, " cells of ", cell_w, " x ", cell_h, " px is not a grid");
  sheet_.width = left + cols * cell_w;
  sheet_.height = top + rows * cell_h;
  sheet_.channels = 3;
  sheet_.pixels.assign(static_cast<size_t>(sheet_.width) * sheet_.height * 3, background);
}

void PictureSheet::paste(const Image& picture, int x, int y, int w, int h) {
  if (w <= 0) w = picture.width;
  if (h <= 0) h = picture.height;
  const int ch = picture.channels;
  for (int iy = std::max(0, -y); iy < h && y + iy < sheet_.height; ++iy) {
    const int sy = static_cast<int>(static_cast<int64_t>(iy) * picture.height / h);
    for (int ix = std::max(0, -x); ix < w && x + ix < sheet_.width; ++ix) {
      const int sx = static_cast<int>(static_cast<int64_t>(ix) * picture.width / w);
      const uint8_t* s = &picture.pixels[(static_cast<size_t>(sy) * picture.width + sx) * ch];
      uint8_t* d = &sheet_.pixels[(static_cast<size_t>(y + iy) * sheet_.width + x + ix) * 3];
      for (int k = 0; k < 3; ++k) d[k] = s[ch >= 3 ? k : 0];
    }
  }
}

}  // namespace prtkl
