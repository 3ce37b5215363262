// Full training (`prtkl train --full`), as the bundled model is made: the UNet and the text encoder from their
// own weights with EMA and caption dropout, the VAE (or its decoder alone) as its own stage. The loss goes down, a
// resumed run equals an uninterrupted one (EMA included), and the saved diffusers folder is the EMA model and loads
// like any other.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"
#include "train/trainer.h"
#include "train_data.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

TrainConfig full_config(const std::string& name, TrainStage stage) {
  auto c = test::shapes_run(name, 6);
  c.full = true;
  c.stage = stage;
  c.train_text_encoder = stage == TrainStage::kUNet;
  c.lr = 2e-3;
  c.text_encoder_lr = 1e-3;
  c.batch_size = 3;
  c.seed = 5;
  c.log_every = 1;
  c.ema_decay = 0.9;
  return c;
}

// An autoencoder stage: 40 steps at lr 3e-3, one checkpoint at the end; the fixed-noise loss before and after.
std::pair<double, double> train_autoencoder(TrainConfig& c) {
  c.max_train_steps = 40;
  c.checkpoint_every = 40;
  c.lr = 3e-3;
  Trainer trainer(c);
  const double before = trainer.fixed_noise_loss();
  trainer.run();
  return {before, trainer.fixed_noise_loss()};
}

}  // namespace

TEST(FullTraining, UnetAndTextEncoderLearnWithEmaAndSaveADiffusersFolder) {
  torch::set_num_threads(2);
  auto c = full_config("full_unet", TrainStage::kUNet);
  c.max_train_steps = 30;
  c.checkpoint_every = 15;
  c.caption_dropout = 0.2;
  c.save_dtype = "fp16";
  Trainer trainer(c);
  const double before = trainer.fixed_noise_loss();
  const auto te_before = trainer.model().text_encoder->named_parameters()["text_model.final_layer_norm.weight"].clone();
  const auto result = trainer.run();
  EXPECT_TRUE(result.finished);
  const double after = trainer.fixed_noise_loss();
  EXPECT_LT(after, 0.9 * before) << before << " -> " << after;
  EXPECT_FALSE(torch::equal(te_before, trainer.model().text_encoder->named_parameters()["text_model.final_layer_norm.weight"]))
      << "the text encoder trains";

  // The saved folder: the diffusers layout with fp16 weights that hold the EMA (not the last) weights.
  const auto folder = c.output_dir + "/model";
  for (const char* f : {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                        "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                        "tokenizer/vocab.json", "scheduler/scheduler_config.json"})
    EXPECT_TRUE(fs::exists(folder + "/" + f)) << f;
  EXPECT_TRUE(fs::exists(c.output_dir + "/checkpoint-15/model/unet/diffusion_pytorch_model.safetensors"));
  auto saved = SafeTensors::open(folder + "/unet/diffusion_pytorch_model.safetensors");
  const auto w = saved.get("conv_in.weight");
  EXPECT_EQ(w.scalar_type(), torch::kHalf);
  const auto live = trainer.model().unet->named_parameters()["conv_in.weight"];
  EXPECT_GT((w.to(torch::kFloat32) - live).abs().max().item<double>(), 1e-3) << "saved weights are the EMA";
  EXPECT_EQ(saved.metadata().at("prtkl.steps"), "30");

  auto loaded = load_model(folder);
  GenerateParams p;
  p.prompt = "a ring made of particles";
  p.steps = 2;
  const auto images = StableDiffusionPipeline(loaded).generate(p).images;
  EXPECT_TRUE(torch::isfinite(images).all().item<bool>());
}

TEST(FullTraining, ResumeEqualsUninterruptedWithEmaAndCaptionDropout) {
  torch::set_num_threads(2);
  auto a = full_config("full_resume_a", TrainStage::kUNet);
  a.max_train_steps = 6;
  a.checkpoint_every = 2;
  a.caption_dropout = 0.3;
  Trainer(a).run();
  auto b = a;
  b.output_dir = test::scratch_dir("full_resume_b") + "/run";
  {
    TrainCallbacks stop;
    stop.on_step = [](const TrainStep& s) { return s.step < 2; };
    EXPECT_EQ(Trainer(b).run(stop).steps, 2);
  }
  b.resume = "latest";
  EXPECT_EQ(Trainer(b).run().steps, 6);
  ASSERT_FALSE(test::csv_column(a.output_dir + "/loss.csv", 1).empty());
  for (const int column : {0, 1})  // step, loss
    EXPECT_EQ(test::csv_column(a.output_dir + "/loss.csv", column), test::csv_column(b.output_dir + "/loss.csv", column));
  auto ua = SafeTensors::open(a.output_dir + "/model/unet/diffusion_pytorch_model.safetensors");
  auto ub = SafeTensors::open(b.output_dir + "/model/unet/diffusion_pytorch_model.safetensors");
  for (const auto& n : ua.names()) EXPECT_TRUE(torch::equal(ua.get(n), ub.get(n))) << n;
}

TEST(FullTraining, VaeStageLearnsToReconstructAndMeasuresItsLatentScale) {
  torch::set_num_threads(2);
  auto c = full_config("full_vae", TrainStage::kVae);
  c.held_out = 1;
  const auto [before, after] = train_autoencoder(c);
  EXPECT_LT(after, 0.8 * before) << before << " -> " << after;
  EXPECT_TRUE(fs::exists(c.output_dir + "/checkpoint-40/validation/reconstruction.png"));
  const auto vae_config = read_json_file(c.output_dir + "/model/vae/config.json");
  const double scale = vae_config.at("scaling_factor").get<double>();
  EXPECT_GT(scale, 0);
  EXPECT_NE(scale, 0.18215) << "measured, not copied";
  // Only the VAE trained: the UNet file is the base model's.
  auto base = SafeTensors::open(test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
  auto saved = SafeTensors::open(c.output_dir + "/model/unet/diffusion_pytorch_model.safetensors");
  for (const auto& n : base.names()) EXPECT_TRUE(torch::equal(base.get(n), saved.get(n))) << n;
}

// mixed_precision bf16 reaches the autoencoder stage too (it was silently fp32): the same loss to a few per cent,
// not the same bits, and the steps stay finite.
TEST(FullTraining, VaeStageRunsUnderBf16Autocast) {
  torch::set_num_threads(2);
  auto c = full_config("full_vae_bf16", TrainStage::kVae);
  c.held_out = 1;
  c.max_train_steps = 2;
  c.checkpoint_every = 2;
  const double fp32 = Trainer(c).fixed_noise_loss();
  c.mixed_precision = MixedPrecision::kBf16;
  Trainer trainer(c);
  const double bf16 = trainer.fixed_noise_loss();
  EXPECT_NE(fp32, bf16) << "autocast is active";
  EXPECT_NEAR(fp32, bf16, 0.05 * fp32);
  std::vector<double> losses;
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    losses.push_back(s.loss);
    return true;
  };
  trainer.run(cb);
  ASSERT_EQ(losses.size(), 2u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l)) << l;
}

TEST(FullTraining, DecoderStageKeepsTheEncoderAndTheLatentScale) {
  torch::set_num_threads(2);
  auto c = full_config("full_vae_decoder", TrainStage::kVaeDecoder);
  const auto [before, after] = train_autoencoder(c);
  EXPECT_LT(after, 0.9 * before) << before << " -> " << after;
  auto base = SafeTensors::open(test::fixture_path("tiny-sd15/vae/diffusion_pytorch_model.safetensors"));
  auto saved = SafeTensors::open(c.output_dir + "/model/vae/diffusion_pytorch_model.safetensors");
  int decoder_changed = 0;
  for (const auto& n : base.names()) {
    const bool decoder = n.rfind("decoder.", 0) == 0 || n.rfind("post_quant_conv.", 0) == 0;
    if (!decoder) EXPECT_TRUE(torch::equal(base.get(n), saved.get(n))) << n << ": the encoder is frozen";
    decoder_changed += decoder && !torch::equal(base.get(n), saved.get(n));
  }
  EXPECT_GT(decoder_changed, 10);
  const auto scale = [](const std::string& folder) {
    return read_json_file(folder + "/vae/config.json").at("scaling_factor").get<double>();
  };
  EXPECT_EQ(scale(c.output_dir + "/model"), scale(test::fixture_path("tiny-sd15"))) << "the latent space stays";
}

TEST(FullTraining, ConfigRejectsWhatFullTrainingCannotDo) {
  auto c = full_config("full_bad", TrainStage::kUNet);
  c.pivotal = true;
  EXPECT_THROW(c.resolve(), Error);
  auto d = full_config("full_bad_stage", TrainStage::kVae);
  d.full = false;
  EXPECT_THROW(d.resolve(), Error);
  auto e = full_config("full_bad_base_dtype", TrainStage::kUNet);
  e.base_dtype = "bf16";  // full training trains the base weights: they stay fp32
  EXPECT_THROW(e.resolve(), Error);
  auto f = full_config("full_bad_decoder", TrainStage::kVaeDecoder);
  f.full = false;
  EXPECT_THROW(f.resolve(), Error);
}
