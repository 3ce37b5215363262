// The built-in 5×7 bitmap font: glyphs draw pixels, spaces do not, and widths follow the text length.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/text_render.h"

using namespace prtkl;

namespace {

Image blank(int w, int h, int channels = 3) {
  Image im;
  im.width = w, im.height = h, im.channels = channels;
  im.pixels.assign(static_cast<size_t>(w) * h * channels, 0);
  return im;
}

size_t lit(const Image& im) {
  return std::count_if(im.pixels.begin(), im.pixels.end(), [](uint8_t v) { return v; });
}

}  // namespace

TEST(TextRender, LetterDrawsPixelsInsideItsBox) {
  auto im = blank(20, 20);
  draw_text(im, 2, 3, "A", {255, 255, 255});
  EXPECT_GT(lit(im), 0u);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      if (im.pixels[(y * im.width + x) * 3]) {
        EXPECT_GE(x, 2);
        EXPECT_LT(x, 2 + kGlyphWidth);
        EXPECT_GE(y, 3);
        EXPECT_LT(y, 3 + kGlyphHeight);
      }
}

TEST(TextRender, SpaceDrawsNothing) {
  auto im = blank(20, 20);
  draw_text(im, 0, 0, "   ", {255, 255, 255});
  EXPECT_EQ(lit(im), 0u);
}

TEST(TextRender, WidthScalesWithLengthAndScale) {
  EXPECT_EQ(text_width(""), 0);
  EXPECT_EQ(text_width("A"), kGlyphWidth);
  EXPECT_EQ(text_width("AB"), kGlyphAdvance + kGlyphWidth);
  EXPECT_EQ(text_width("ABCD") - text_width("ABC"), kGlyphAdvance);
  EXPECT_EQ(text_width("AB", 3), 3 * text_width("AB"));
  EXPECT_EQ(text_height(2), 2 * kGlyphHeight);
  EXPECT_EQ(text_width("\xc3\xa9"), text_width("?"));  // one UTF-8 character, one glyph
}

TEST(TextRender, ScaledTextCoversMorePixelsAndClipsAtEdges) {
  auto small = blank(40, 40), big = blank(40, 40);
  draw_text(small, 0, 0, "Hi", {200, 100, 50});
  draw_text(big, 0, 0, "Hi", {200, 100, 50}, 2);
  EXPECT_EQ(lit(big), 4 * lit(small));
  auto edge = blank(8, 8, 1);
  draw_text(edge, 5, 5, "WWWW", {255, 255, 255});  // partly outside: no crash, some pixels
  EXPECT_GT(lit(edge), 0u);
}

TEST(TextRender, FitTextShortensToWidth) {
  EXPECT_EQ(fit_text("short", 100), "short");
  const auto cut = fit_text("a rather long prompt about a lighthouse", 60);
  EXPECT_LE(text_width(cut), 60);
  EXPECT_EQ(cut.substr(cut.size() - 2), "..");
}
