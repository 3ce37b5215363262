// `prtkl judge`: a judge file names each picture (what page_fidelity.mjs uses to read the page as the judge reads
// the PNG). A judge trained here on red discs and blue squares must name one of each right, in text and JSON.
#include <gtest/gtest.h>

#include "core/image.h"
#include "core/json_config.h"
#include "eval/judge.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {
// A 64×64 picture on white: a red disc or a blue square, at an offset.
Image shape(bool disc, int offset) {
  Image im{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3, 255)};
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      const int dx = x - 32 - offset, dy = y - 32 + offset;
      const bool in = disc ? dx * dx + dy * dy < 15 * 15 : std::abs(dx) < 14 && std::abs(dy) < 14;
      if (!in) continue;
      auto* p = &im.pixels[static_cast<size_t>(3 * (y * 64 + x))];
      p[0] = disc ? 220 : 30, p[1] = 30, p[2] = disc ? 30 : 220;
    }
  return im;
}
}  // namespace

TEST(CliJudge, NamesEachPictureWithItsProbability) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("cli_judge");
  std::vector<torch::Tensor> x;
  std::vector<int64_t> y;
  for (int offset = -4; offset <= 4; offset += 2)
    for (int k = 0; k < 2; ++k) {
      x.push_back(image_tensor(shape(k == 0, offset)));
      y.push_back(k);
    }
  JudgeOptions o;
  o.steps = 60;
  const auto judge = train_judge(judge_input(torch::stack(x)), torch::tensor(y), {"red-disc", "blue-square"}, o);
  save_judge(dir + "/judge.safetensors", judge, "test");
  write_png(dir + "/disc.png", shape(true, 1));
  write_png(dir + "/square.png", shape(false, -1));

  const auto cmd = test::prtkl_binary() + " judge --judge " + dir + "/judge.safetensors ";
  auto r = test::run_command(cmd + dir + "/disc.png " + dir + "/square.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(dir + "/disc.png\tred-disc\t"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/square.png\tblue-square\t"), std::string::npos) << r.output;

  r = test::run_command(cmd + "--json " + dir + "/square.png");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = Json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j.at("label"), "blue-square");
  EXPECT_GT(j.at("probability").get<double>(), 0.5);
  EXPECT_LE(j.at("probability").get<double>(), 1.0);

  r = test::run_command(test::prtkl_binary() + " judge --judge " + dir + "/none.safetensors " + dir + "/disc.png");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("none.safetensors"), std::string::npos) << r.output;
}
