// The picture-sheet grid every sheet shares: cell positions with margins, pasting grey and RGBA pictures, nearest
// scaling and clipping at the sheet's edge.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/picture_sheet.h"

using namespace prtkl;

namespace {

std::array<uint8_t, 3> pixel_at(const Image& im, int x, int y) {
  const auto* p = &im.pixels[(static_cast<size_t>(y) * im.width + x) * 3];
  return {p[0], p[1], p[2]};
}

}  // namespace

TEST(PictureSheet, CellsMarginsPasteScaleAndClip) {
  PictureSheet sheet(3, 2, 10, 8, 7, /*left=*/5, /*top=*/4);
  EXPECT_EQ(sheet.image().width, 35);
  EXPECT_EQ(sheet.image().height, 20);
  EXPECT_EQ(sheet.cell_x(2), 25);
  EXPECT_EQ(sheet.cell_y(1), 12);
  EXPECT_EQ(pixel_at(sheet.image(), 0, 0), (std::array<uint8_t, 3>{7, 7, 7}));

  // A 2 x 1 RGBA picture (red, blue) scaled to 4 x 2: each source pixel covers two columns, alpha dropped.
  Image rgba{2, 1, 4, {255, 0, 0, 9, 0, 0, 255, 9}};
  sheet.paste(rgba, sheet.cell_x(0), sheet.cell_y(0), 4, 2);
  EXPECT_EQ(pixel_at(sheet.image(), 6, 5), (std::array<uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(pixel_at(sheet.image(), 7, 4), (std::array<uint8_t, 3>{0, 0, 255}));
  EXPECT_EQ(pixel_at(sheet.image(), 9, 4), (std::array<uint8_t, 3>{7, 7, 7})) << "nothing past the scaled size";

  // A grey picture at its own size hanging over the bottom-right corner: clipped, not written out of bounds.
  Image grey{4, 4, 1, std::vector<uint8_t>(16, 100)};
  sheet.paste(grey, 33, 18);
  EXPECT_EQ(pixel_at(sheet.image(), 34, 19), (std::array<uint8_t, 3>{100, 100, 100}));
  EXPECT_EQ(sheet.image().pixels.size(), size_t(35 * 20 * 3));

  EXPECT_THROW(PictureSheet(0, 1, 10, 10, 0), Error);
}
