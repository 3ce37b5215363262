// LoRA on any Linear or Conv2d (PEFT's target_modules, kohya's LoCon): a trained adapter, saved in either format
// and merged into a fresh model, computes what the adapter computed in training, for linear layers and for
// convolutions of every kernel and stride; a target that names no such layer is an error, not a silent no-op.
#include <gtest/gtest.h>

#include "adapters/lora_apply.h"
#include "core/error.h"
#include "diffusion/model_loader.h"
#include "support/fixtures.h"
#include "train/lora_injection.h"

using namespace prtkl;

namespace {
torch::Tensor unet_output(StableDiffusionModel& model) {
  torch::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(5);
  const auto& cfg = model.unet->config();
  const auto channels = cfg.get_or<int64_t>("in_channels", 4);
  const auto latents = torch::randn({1, channels, 16, 16}, gen, torch::kFloat32);
  const auto context = torch::randn({1, 77, cfg.get<int64_t>("cross_attention_dim")}, gen, torch::kFloat32);
  return model.unet->forward(latents, torch::tensor(500), context);
}
}  // namespace

TEST(LoraInjection, ConvolutionAndLinearAdaptersSaveAndMergeToWhatTheyComputed) {
  torch::set_num_threads(1);
  auto model = load_model(test::fixture_path("tiny-sd15"));
  const auto base = unet_output(model);
  at::Generator gen = at::detail::createCPUGenerator(0);
  // conv1/conv2: 3×3 resnet convolutions; conv: the down- (stride 2) and up-samplers; conv_shortcut: 1×1;
  // time_emb_proj and ff.net.2: plain linear layers outside the attention.
  auto lora = inject_lora(*model.unet, {"conv1", "conv2", "conv", "conv_shortcut", "time_emb_proj", "ff.net.2", "to_q"},
                          4, 2.0, 0.0, gen, "unet");
  int convs = 0, strided = 0;
  for (const auto& layer : lora.layers) {
    if (layer.lora->down.dim() == 4) ++convs;
    if (layer.name.find("downsamplers") != std::string::npos) ++strided;
  }
  EXPECT_GT(convs, 0);
  EXPECT_GT(strided, 0);
  // B starts at zero: the adapter is a no-op until trained.
  EXPECT_TRUE(torch::equal(unet_output(model), base));
  {
    torch::NoGradGuard no_grad;
    at::Generator g = at::detail::createCPUGenerator(1);
    for (auto& layer : lora.layers) layer.lora->up.copy_(torch::randn(layer.lora->up.sizes(), g) * 0.05);
  }
  const auto trained = unet_output(model);
  ASSERT_GT((trained - base).abs().max().item<double>(), 1e-3);

  const auto dir = test::scratch_dir("lora_injection_conv");
  const auto pairs = lora.pairs("unet", 2.0);
  write_lora_peft(dir + "/peft.safetensors", pairs, {});
  write_lora_kohya(dir + "/kohya.safetensors", pairs, {});
  for (const auto* file : {"/peft.safetensors", "/kohya.safetensors"}) {
    auto fresh = load_model(test::fixture_path("tiny-sd15"));
    LoraApplier applier(fresh);
    auto read = applier.read(dir + file);
    EXPECT_TRUE(read.unmatched.empty()) << file;
    EXPECT_EQ(read.pairs.size(), pairs.size()) << file;
    applier.apply({{std::move(read), 1.0}});
    EXPECT_TRUE(torch::allclose(unet_output(fresh), trained, 1e-4, 1e-5))
        << file << ": max |diff| " << (unet_output(fresh) - trained).abs().max().item<double>();
  }
}

TEST(LoraInjection, ATargetThatNamesNoLayerIsAnError) {
  auto model = load_model(test::fixture_path("tiny-sd15"));
  at::Generator gen = at::detail::createCPUGenerator(0);
  try {
    inject_lora(*model.unet, {"to_q", "ff.net.0"}, 4, 4.0, 0.0, gen, "unet");  // ff.net.0 is the GEGLU, not a layer
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ff.net.0' matches no Linear or Conv2d layer of the unet"), std::string::npos)
        << e.what();
  }
}
