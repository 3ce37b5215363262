// The single-file key mapping, checked tensor by tensor: every diffusers tensor of each fixture folder must be
// found in the single-file checkpoint under its original name with identical values, and every tensor of the
// single file must be used exactly once.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "diffusion/checkpoint_keys.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

template <typename KeyFn>
void expect_component_maps(const SafeTensors& single, const std::string& folder_file, const std::string& prefix,
                           KeyFn original, std::set<std::string>& used) {
  auto folder = SafeTensors::open(folder_file);
  for (const auto& name : folder.names()) {
    const OriginalKey ok = original(name);
    const std::string full = prefix + ok.key;
    ASSERT_TRUE(single.contains(full)) << name << " -> " << full;
    auto t = from_original(single.get(full), ok.transform);
    ASSERT_TRUE(torch::equal(t, folder.get(name))) << name << " -> " << full;
    // Converting back gives the stored layout (chunked tensors are concatenated by the writer).
    if (ok.transform != KeyTransform::QChunk && ok.transform != KeyTransform::KChunk &&
        ok.transform != KeyTransform::VChunk)
      ASSERT_TRUE(torch::equal(to_original(folder.get(name), ok.transform), single.get(full))) << name;
    used.insert(full);
  }
}

void check_model(const std::string& model, bool sdxl) {
  const auto dir = test::fixture_path(model);
  auto single = SafeTensors::open(test::fixture_path(model + ".safetensors"));
  const auto unet_cfg = Config::load(dir + "/unet/config.json");
  const auto vae_cfg = Config::load(dir + "/vae/config.json");
  std::set<std::string> used;
  expect_component_maps(single, dir + "/unet/diffusion_pytorch_model.safetensors", CheckpointPrefixes::unet,
                        [&](const std::string& k) { return unet_original_key(k, unet_cfg); }, used);
  expect_component_maps(single, dir + "/vae/diffusion_pytorch_model.safetensors", CheckpointPrefixes::vae,
                        [&](const std::string& k) { return vae_original_key(k, vae_cfg); }, used);
  auto same = [](const std::string& k) { return OriginalKey{k}; };
  if (sdxl) {
    expect_component_maps(single, dir + "/text_encoder/model.safetensors", CheckpointPrefixes::sdxl_text_encoder, same,
                          used);
    expect_component_maps(single, dir + "/text_encoder_2/model.safetensors", CheckpointPrefixes::sdxl_text_encoder_2,
                          open_clip_original_key, used);
  } else {
    expect_component_maps(single, dir + "/text_encoder/model.safetensors", CheckpointPrefixes::sd15_text_encoder, same,
                          used);
  }
  for (const auto& n : single.names()) EXPECT_TRUE(used.count(n)) << "single-file tensor not mapped: " << n;
}

}  // namespace

TEST(CheckpointKeys, Sd15SingleFileMatchesFolder) { check_model("tiny-sd15", false); }
TEST(CheckpointKeys, SdxlSingleFileMatchesFolder) { check_model("tiny-sdxl", true); }

TEST(CheckpointKeys, UnknownKeysAreErrors) {
  const auto cfg = Config::load(test::fixture_path("tiny-sd15/unet/config.json"));
  EXPECT_THROW(unet_original_key("nonsense.weight", cfg), Error);
  // The bundled model's text-pooled time embedding has no original name: found as nothing, not an error, so a
  // LoRA on such a model still loads (its kohya names cover the rest).
  EXPECT_FALSE(find_unet_original_key("add_embedding.pool.q_proj.weight", cfg).has_value());
  EXPECT_EQ(find_unet_original_key("conv_in.weight", cfg)->key, "input_blocks.0.0.weight");
  EXPECT_THROW(open_clip_original_key("text_model.encoder.layers.0.bogus.weight"), Error);
}

TEST(CheckpointKeys, Sd15LayoutExamples) {
  const auto cfg = Config::load(test::fixture_path("tiny-sd15/unet/config.json"));
  EXPECT_EQ(unet_original_key("down_blocks.1.resnets.0.conv1.weight", cfg).key, "input_blocks.4.0.in_layers.2.weight");
  EXPECT_EQ(unet_original_key("down_blocks.0.downsamplers.0.conv.bias", cfg).key, "input_blocks.3.0.op.bias");
  EXPECT_EQ(unet_original_key("up_blocks.0.upsamplers.0.conv.weight", cfg).key, "output_blocks.2.1.conv.weight");
  EXPECT_EQ(unet_original_key("mid_block.resnets.1.time_emb_proj.weight", cfg).key, "middle_block.2.emb_layers.1.weight");
}
