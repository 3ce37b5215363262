// `extract_lora` / `low_rank_pair`: a change of known low rank comes back exactly, a higher one as its best
// approximation (the dropped singular values are the error), convolutions as k×k down / 1×1 up; a fine-tune of the
// tiny fixture becomes a LoRA that, applied to the base, gives the tuned weights, its norms' and biases' changes
// whole (ComfyUI's `.diff` / `.diff_b` keys, also read as LyCORIS' `.w_norm` / `.b_norm`); models that do not
// match, or do not differ, fail before anything is written.
#include <gtest/gtest.h>

#include <filesystem>

#include "adapters/lora_apply.h"
#include "adapters/lora_extract.h"
#include "core/safetensors.h"
#include "diffusion/model_save.h"
#include "support/fixtures.h"

namespace fs = std::filesystem;
using namespace prtkl;

namespace {

torch::Tensor param(torch::nn::Module& m, const std::string& name) {
  auto params = m.named_parameters(true);
  auto* p = params.find(name);
  if (!p) throw std::runtime_error("the fixture has no " + name);
  return *p;
}

const std::string kAttn = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
const std::string kConv = "down_blocks.0.resnets.0.conv1";
const std::string kNorm = "down_blocks.0.resnets.0.norm1.weight";
const std::string kAttn2Bias = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.bias";

}  // namespace

TEST(LoraExtract, ALowRankChangeComesBackExactly) {
  torch::manual_seed(0);
  const auto delta = torch::matmul(torch::randn({20, 3}), torch::randn({3, 30}));
  const auto pair = low_rank_pair(delta, 3);
  EXPECT_EQ(pair.rank(), 3);
  EXPECT_TRUE(torch::allclose(pair.delta(), delta, 1e-4, 1e-4));
  // A rank above what the matrix has is lowered to min(out, in).
  EXPECT_EQ(low_rank_pair(torch::randn({5, 7}), 16).rank(), 5);
}

TEST(LoraExtract, AHigherRankChangeKeepsItsLargestDirections) {
  torch::manual_seed(1);
  const auto delta = torch::randn({12, 9});
  const auto s = torch::linalg_svdvals(delta);
  const auto pair = low_rank_pair(delta, 4);
  // Eckart–Young: the squared error of the best rank-4 approximation is the sum of the dropped singular values².
  const double err = (pair.delta() - delta).square().sum().item<double>();
  EXPECT_NEAR(err, s.slice(0, 4).square().sum().item<double>(), 1e-3);
  // √S on both sides: the factors have equal norms per direction.
  EXPECT_TRUE(torch::allclose(pair.up.norm(2, {0}), pair.down.norm(2, {1}), 1e-4, 1e-5));
}

TEST(LoraExtract, AConvolutionBecomesAKxKDownAndA1x1Up) {
  torch::manual_seed(2);
  const auto down = torch::randn({2, 4 * 3 * 3}), up = torch::randn({8, 2});
  const auto delta = torch::matmul(up, down).reshape({8, 4, 3, 3});
  const auto pair = low_rank_pair(delta, 2);
  EXPECT_EQ(pair.down.sizes(), (std::vector<int64_t>{2, 4, 3, 3}));
  EXPECT_EQ(pair.up.sizes(), (std::vector<int64_t>{8, 2, 1, 1}));
  EXPECT_TRUE(torch::allclose(pair.delta(), delta, 1e-4, 1e-4));
}

TEST(LoraExtract, AFineTuneBecomesALoraThatReproducesIt) {
  const auto dir = test::scratch_dir("lora_extract");
  torch::NoGradGuard no_grad;
  auto tuned = load_model(test::fixture_path("tiny-sd15"));
  torch::manual_seed(3);
  auto& unet = *tuned.unet;
  const auto w_attn = param(unet, kAttn + ".weight"), w_conv = param(unet, kConv + ".weight");
  w_attn.add_(torch::matmul(torch::randn({w_attn.size(0), 2}), torch::randn({2, w_attn.size(1)})));
  w_conv.add_(torch::matmul(torch::randn({w_conv.size(0), 1}), torch::randn({1, w_conv[0].numel()}))
                  .reshape(w_conv.sizes()));
  param(unet, kNorm).add_(0.5);  // a norm and a bias: carried whole
  param(unet, kAttn2Bias).add_(0.25);
  const auto w_norm = param(unet, kNorm), b_attn = param(unet, kAttn2Bias);
  save_diffusers_model(tuned, dir + "/tuned", {});

  ExtractLoraOptions o;
  o.base = test::fixture_path("tiny-sd15");
  o.tuned = dir + "/tuned";
  o.out = dir + "/style.safetensors";
  o.rank = 4;
  o.dtype = torch::kFloat32;
  const auto report = extract_lora(o);
  EXPECT_EQ(report.layers, 2);
  EXPECT_EQ(report.diffs, 2);
  EXPECT_EQ(report.not_carried, 0);
  EXPECT_NEAR(report.kept, 1.0, 1e-4);  // rank 2 and 1 changes fit in rank 4
  EXPECT_GT(report.unchanged, 10);

  auto base = load_model(o.base);
  LoraApplier applier(base);
  auto file = applier.read(o.out);
  EXPECT_EQ(file.format, "kohya");
  EXPECT_TRUE(file.unmatched.empty());
  ASSERT_EQ(file.pairs.size(), 2u);
  ASSERT_EQ(file.diffs.size(), 2u);
  EXPECT_TRUE(SafeTensors::open(o.out).contains("lora_unet_down_blocks_0_resnets_0_norm1.diff"));
  EXPECT_EQ(file.pairs.at("unet." + kConv).down.sizes(), (std::vector<int64_t>{4, w_conv.size(1), 3, 3}));
  applier.apply({{file, 1.0}});
  EXPECT_TRUE(torch::allclose(param(*base.unet, kAttn + ".weight"), w_attn, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(param(*base.unet, kConv + ".weight"), w_conv, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(param(*base.unet, kNorm), w_norm, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(param(*base.unet, kAttn2Bias), b_attn, 1e-5, 1e-5));

  // Without the differences the norm and the bias are left out, and counted.
  o.out = dir + "/pairs-only.safetensors";
  o.diffs = false;
  const auto pairs_only = extract_lora(o);
  EXPECT_EQ(pairs_only.diffs, 0);
  EXPECT_EQ(pairs_only.not_carried, 2);
  EXPECT_GT(pairs_only.not_carried_share, 0.0);
}

TEST(LoraExtract, LycorisNormKeysApplyScaledAndClearExactly) {
  const auto dir = test::scratch_dir("lora_norm_keys");
  auto model = load_model(test::fixture_path("tiny-sd15"));
  const auto norm = param(*model.unet, kNorm), bias = param(*model.unet, kAttn2Bias);
  const auto norm_before = norm.clone(), bias_before = bias.clone();
  const auto w_norm = torch::full_like(norm, 0.5), b_norm = torch::full_like(norm, -0.25);
  const auto diff_b = torch::full_like(bias, 1.0);
  save_safetensors(dir + "/norms.safetensors",
                   {{"lora_unet_down_blocks_0_resnets_0_norm1.w_norm", w_norm},
                    {"lora_unet_down_blocks_0_resnets_0_norm1.b_norm", b_norm},
                    {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_out_0.diff_b", diff_b},
                    {"lora_unet_down_blocks_0_resnets_0_norm1.lora_down.weight", torch::ones({1, 4})}},
                   {});
  LoraApplier applier(model);
  const auto file = applier.read(dir + "/norms.safetensors");
  EXPECT_EQ(file.diffs.size(), 3u);
  // A pair cannot target a norm.
  EXPECT_EQ(file.unmatched, std::vector<std::string>{"lora_unet_down_blocks_0_resnets_0_norm1.lora_down.weight"});
  applier.apply({{file, 2.0}});
  EXPECT_TRUE(torch::allclose(norm, norm_before + 1.0));
  EXPECT_TRUE(torch::allclose(param(*model.unet, "down_blocks.0.resnets.0.norm1.bias"),
                              param(*load_model(test::fixture_path("tiny-sd15")).unet, "down_blocks.0.resnets.0.norm1.bias") - 0.5));
  EXPECT_TRUE(torch::allclose(bias, bias_before + 2.0));
  applier.clear();
  EXPECT_TRUE(torch::equal(norm, norm_before));
  EXPECT_TRUE(torch::equal(bias, bias_before));
}

TEST(LoraExtract, ModelsThatDoNotMatchOrDoNotDifferFailAndWriteNothing) {
  const auto dir = test::scratch_dir("lora_extract_fail");
  ExtractLoraOptions o;
  o.base = test::fixture_path("tiny-sd15");
  o.out = dir + "/x.safetensors";
  o.tuned = test::fixture_path("tiny-sd15");
  EXPECT_NE(test::error_of([&] { extract_lora(o); }).find("differs between"), std::string::npos);
  o.tuned = test::fixture_path("tiny-sdxl");
  EXPECT_NE(test::error_of([&] { extract_lora(o); }).find("is sdxl"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.out));
  o.out = dir + "/x.bin";
  EXPECT_NE(test::error_of([&] { extract_lora(o); }).find(".safetensors file"), std::string::npos);
}
