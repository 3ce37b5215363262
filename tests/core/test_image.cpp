#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "support/fixtures.h"

using namespace prtkl;

TEST(Image, PngRoundTripWithTextChunks) {
  Image img{5, 3, 3, {}};
  for (int i = 0; i < 5 * 3 * 3; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 7));
  const auto path = test::scratch_dir("png") + "/a.png";
  const std::string params = "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 5x3";
  write_png(path, img, {{"parameters", params}, {"comment", "naïve"}});
  auto back = read_image(path);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.pixels, img.pixels);
  auto text = read_png_text(path);
  EXPECT_EQ(text.at("parameters"), params);
  EXPECT_EQ(text.at("comment"), "naïve");
}

TEST(Image, BadFilesAreErrors) {
  const auto dir = test::scratch_dir("bad");
  write_file_atomic(dir + "/x.png", std::string("not an image"));
  EXPECT_THROW(read_image(dir + "/x.png"), Error);
  EXPECT_THROW(read_png_text(dir + "/x.png"), Error);
  EXPECT_THROW(write_png(dir + "/y.png", Image{2, 2, 3, {1, 2, 3}}), Error);
}
