// The published configs in configs/ build the real architectures: parameter counts of SD 1.5 and SDXL's
// components as the released checkpoints have them (the SDXL UNet, 10 GB in fp32, is counted by the benchmark).
#include <gtest/gtest.h>

#include "core/json_config.h"
#include "models/clip.h"
#include "models/unet.h"
#include "models/vae.h"
#include "models/weights.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {
Config published(const std::string& rel) { return Config::load(test::source_dir() + "/configs/" + rel); }
}  // namespace

TEST(PublishedConfigs, Sd15ParameterCounts) {
  EXPECT_EQ(parameter_count(*UNet2DConditionModel(published("sd15/unet/config.json"))), 859520964);
  EXPECT_EQ(parameter_count(*ClipTextModel(published("sd15/text_encoder/config.json"))), 123060480);
  EXPECT_EQ(parameter_count(*AutoencoderKL(published("sd15/vae/config.json"))), 83653863);
}

TEST(PublishedConfigs, SdxlTextEncoderParameterCounts) {
  EXPECT_EQ(parameter_count(*ClipTextModel(published("sdxl/text_encoder/config.json"))), 123060480);
  EXPECT_EQ(parameter_count(*ClipTextModel(published("sdxl/text_encoder_2/config.json"))), 694659840);
}
