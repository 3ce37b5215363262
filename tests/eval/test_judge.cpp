// The judge learns shapes it was shown well enough to name new pictures of them, and a judge trained on shuffled
// labels does not: the accuracy it reports means something. Plus the pieces it is built from.
#include <gtest/gtest.h>

#include "eval/judge.h"
#include "shapes.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

struct Split {
  torch::Tensor images, labels;
};

Split shapes(int per_class, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<torch::Tensor> x;
  std::vector<int64_t> y;
  for (int i = 0; i < per_class * test::kShapes; ++i) {
    x.push_back(image_tensor(test::shape_picture(i % test::kShapes, rng)));
    y.push_back(i % test::kShapes);
  }
  return {torch::stack(x), torch::tensor(y, torch::kLong)};
}

JudgeOptions small_judge() {
  JudgeOptions o;
  o.widths = {16, 32, 32, 32};
  o.steps = 60;
  o.batch_size = 32;
  o.lr = 3e-3;
  return o;
}

const std::vector<std::string> kNames = {"disc", "square", "triangle", "ring"};

}  // namespace

TEST(Judge, LearnsShapesAndNamesNewPictures) {
  torch::set_num_threads(1);
  const auto train = shapes(8, 1), held = shapes(10, 2);
  const auto judge = train_judge(train.images, train.labels, kNames, small_judge());
  EXPECT_GE(accuracy(judge, train.images, train.labels), 0.95);
  EXPECT_GE(accuracy(judge, held.images, held.labels), 0.9);
}

TEST(Judge, ShuffledLabelsTeachNothing) {
  torch::set_num_threads(1);
  const auto train = shapes(8, 1), held = shapes(10, 2);
  at::Generator gen = at::detail::createCPUGenerator(5);
  const auto shuffled = train.labels.index_select(0, torch::randperm(train.labels.size(0), gen, torch::kLong));
  const auto judge = train_judge(train.images, shuffled, kNames, small_judge());
  EXPECT_LE(accuracy(judge, held.images, held.labels), 0.6);
}

TEST(Judge, SavedJudgeLoadsOnlyWithItsKey) {
  torch::set_num_threads(1);
  const auto train = shapes(2, 3);
  auto o = small_judge();
  o.steps = 2;
  const auto judge = train_judge(train.images, train.labels, kNames, o);
  const auto path = test::scratch_dir("judge") + "/judge.safetensors";
  save_judge(path, judge, "key-1");
  EXPECT_FALSE(load_judge(path, "key-2").net);
  const auto loaded = load_judge(path, "key-1");
  ASSERT_TRUE(loaded.net);
  EXPECT_EQ(loaded.labels, kNames);
  EXPECT_TRUE(torch::equal(classify(loaded, train.images), classify(judge, train.images)));
}

TEST(Judge, InputsAreResizedOnWhiteAndBlurKeepsFlatAreas) {
  Image rgba{2, 1, 4, {255, 0, 0, 255, 0, 0, 0, 0}};  // a red pixel and a transparent one
  const auto t = image_tensor(rgba);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_TRUE(torch::allclose(t.select(2, 0).flatten(), torch::tensor({1.f, 0.f, 0.f})));
  EXPECT_TRUE(torch::allclose(t.select(2, 1).flatten(), torch::ones({3})));
  // Gray + alpha (some of npm's emoji PNGs): a black pixel, and a half-transparent black one half-way to white.
  const auto ga = image_tensor(Image{2, 1, 2, {0, 255, 0, 128}});
  ASSERT_EQ(ga.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_TRUE(torch::allclose(ga.select(2, 0).flatten(), torch::zeros({3})));
  EXPECT_TRUE(torch::allclose(ga.select(2, 1).flatten(), torch::full({3}, 127.f / 255), 1e-3, 1e-3));
  const auto small = torch::rand({2, 3, 32, 32});
  EXPECT_EQ(judge_input(small).sizes(), (std::vector<int64_t>{2, 3, kJudgeSize, kJudgeSize}));
  const auto flat = torch::full({2, 3, 16, 16}, 0.5);
  EXPECT_TRUE(torch::allclose(gaussian_blur(flat, torch::tensor({0.0, 1.5})), flat, 1e-5, 1e-5));
  const auto noisy = torch::rand({1, 3, 16, 16});
  EXPECT_LT(gaussian_blur(noisy, torch::tensor({1.5})).std().item<double>(), noisy.std().item<double>() / 2);
}
