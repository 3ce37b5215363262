// The models' own plain layers: torch::nn's initialisation and forward bit for bit (so `prtkl model init` keeps
// its seeded weights), and inside SkipInit no initialisation at all, in the scope's dtype.
#include <gtest/gtest.h>

#include "models/layers.h"
#include "models/unet.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

// Builds `ours` and `theirs` from the same seed and checks parameters and output are identical.
template <typename Ours, typename Theirs>
void expect_same(const std::function<Ours()>& ours, const std::function<Theirs()>& theirs, const torch::Tensor& x,
                 const char* what) {
  torch::manual_seed(7);
  auto a = ours();
  torch::manual_seed(7);
  auto b = theirs();
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.keys(), pb.keys()) << what;
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << what << " " << p.key();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(a(x), b(x))) << what;
}

}  // namespace

TEST(Layers, DefaultInitAndForwardAreTorchNnBitForBit) {
  namespace nn = torch::nn;
  const auto image = torch::randn({2, 6, 9, 9}), tokens = torch::randn({2, 5, 6});
  expect_same<Linear, nn::Linear>([] { return Linear(6, 4); }, [] { return nn::Linear(6, 4); }, tokens, "Linear");
  expect_same<Linear, nn::Linear>([] { return Linear(6, 4, false); },
                                  [] { return nn::Linear(nn::LinearOptions(6, 4).bias(false)); }, tokens,
                                  "Linear without bias");
  expect_same<Conv2d, nn::Conv2d>([] { return Conv2d(6, 4, 3, 2, 1); },
                                  [] { return nn::Conv2d(nn::Conv2dOptions(6, 4, 3).stride(2).padding(1)); }, image,
                                  "Conv2d");
  expect_same<GroupNorm, nn::GroupNorm>([] { return GroupNorm(3, 6, 1e-6); },
                                        [] { return nn::GroupNorm(nn::GroupNormOptions(3, 6).eps(1e-6)); }, image,
                                        "GroupNorm");
  expect_same<LayerNorm, nn::LayerNorm>([] { return LayerNorm(6, 1e-6); },
                                        [] { return nn::LayerNorm(nn::LayerNormOptions({6}).eps(1e-6)); }, tokens,
                                        "LayerNorm");
  expect_same<Embedding, nn::Embedding>([] { return Embedding(10, 4); }, [] { return nn::Embedding(10, 4); },
                                        torch::tensor({{1, 9, 0}}), "Embedding");
}

TEST(Layers, SkipInitDrawsNoRandomNumbersAndBuildsInTheScopeDtype) {
  const auto config = Config::load(test::fixture_path("tiny-sdxl/unet/config.json"));
  torch::manual_seed(3);
  const auto expected = torch::rand({4});
  torch::manual_seed(3);
  UNet2DConditionModel unet(nullptr);
  {
    SkipInit skip(torch::TensorOptions().dtype(torch::kBFloat16));
    EXPECT_TRUE(init_skipped());
    unet = UNet2DConditionModel(config);
  }
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected)) << "building inside SkipInit drew random numbers";
  for (const auto& p : unet->named_parameters()) EXPECT_EQ(p.value().scalar_type(), torch::kBFloat16) << p.key();
  EXPECT_FALSE(init_skipped());
  Linear after(3, 2);  // outside the scope: fp32 and initialised again
  EXPECT_EQ(after->weight.scalar_type(), torch::kFloat32);
  EXPECT_GT(after->weight.abs().sum().item<double>(), 0.0);
}
