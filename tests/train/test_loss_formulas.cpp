// The trainer's loss against the formulas, computed here by hand from the fixture's alphas_cumprod (diffusers'
// DDPMScheduler): the noisy latent, the epsilon and v-prediction targets, noise_offset and min-SNR-γ weighting
// (min(SNR, γ)/SNR, plus 1 for v-prediction, as diffusers' advanced DreamBooth script weights it), and long
// captions encoded in 75-token chunks as inference encodes them; on SDXL, pivotal captions through both encoders
// and the time ids of each sample's original size, crop and bucket.
//
// The first step's loss is taken before any update, when the fresh LoRA (B = 0) leaves the UNet unchanged, so a
// plain model predicts it. The test replays the trainer's draws from the generator seeded with `seed`: per sample
// the latent sample, then the batch's noise, the noise offset (when on) and the timesteps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "adapters/embeddings.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "train_data.h"

using namespace prtkl;

namespace {

TrainConfig one_step_config(const std::string& name, int images) {
  auto c = test::shapes_run(name, images);
  c.seed = 11;
  c.max_train_steps = 1;
  c.batch_size = images;
  return c;
}

double first_step_loss(const TrainConfig& c) {
  double loss = NAN;
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    loss = s.loss;
    return true;
  };
  Trainer(c).run(cb);
  return loss;
}

// What the first step of `c` must see, computed from the formulas. `embeddings`: the token rows the run started
// from (pivotal tuning writes them beside its outputs).
class HandLoss {
 public:
  explicit HandLoss(const TrainConfig& c, const std::string& embeddings = "")
      : c_(c), ref_(std::filesystem::path(c.model).filename().string()), model_(load_model(c.model)) {
    DatasetOptions d;
    d.path = c.data;
    d.resolution = c.resolution;
    d.buckets = c.buckets;
    d.bucket_step = c.bucket_step;
    d.min_bucket = c.min_bucket;
    d.max_bucket = c.max_bucket;
    d.center_crop = c.center_crop;
    d.trigger = c.pivotal ? "TOK" : "";
    d.seed = c.seed;
    samples_ = load_dataset(d).train;
    if (c.pivotal)  // captions say TOK, the model reads the new tokens
      for (auto& s : samples_) s.caption.replace(s.caption.find("TOK"), 3, "<s0><s1>");
    if (!embeddings.empty()) load_embeddings(model_, embeddings);
    acp_ = ref_.get("ddpm.alphas_cumprod").to(torch::kFloat64);
  }
  const std::vector<Sample>& samples() const { return samples_; }

  // The timesteps the first batch draws (they do not depend on the loss settings).
  torch::Tensor timesteps() { return draw({0}).t; }

  // `order`: the samples' order in the batch.
  double loss(const std::vector<size_t>& order, const std::string& prediction_type, double snr_gamma,
              double noise_offset) {
    torch::NoGradGuard no_grad;
    const auto d = draw(order, noise_offset);
    size_t chunks = 0;
    for (size_t i : order) chunks = std::max(chunks, tokenize_prompt(model_, samples_[i].caption).one.size());
    double total = 0;
    for (size_t b = 0; b < order.size(); ++b) {
      const auto& sample = samples_[order[b]];
      const int64_t t = d.t[b].item<int64_t>();
      const double a = acp_[t].item<double>(), snr = a / (1 - a);
      const auto x0 = d.x0[b].unsqueeze(0), noise = d.noise[b].unsqueeze(0);
      const auto noisy = std::sqrt(a) * x0 + std::sqrt(1 - a) * noise;
      const auto target = prediction_type == "v_prediction" ? std::sqrt(a) * noise - std::sqrt(1 - a) * x0 : noise;
      const auto e = encode_tokens(model_, tokenize_prompt(model_, sample.caption, chunks));
      torch::Tensor time_ids;  // SDXL: original size, crop top-left, target size
      if (e.pooled_prompt_embeds.defined())
        time_ids = torch::tensor({float(sample.original_h), float(sample.original_w), float(sample.crop_top),
                                  float(sample.crop_left), float(sample.pixels.size(1)), float(sample.pixels.size(2))})
                       .unsqueeze(0);
      model_.unet->eval();
      const auto pred = model_.unet->forward(noisy.to(torch::kFloat32), d.t.slice(0, b, b + 1), e.prompt_embeds,
                                             e.pooled_prompt_embeds, time_ids);
      double w = 1.0;
      if (snr_gamma > 0) w = std::min(snr, snr_gamma) / snr + (prediction_type == "v_prediction" ? 1.0 : 0.0);
      total += w * (pred.to(torch::kFloat64) - target).pow(2).mean().item<double>();
    }
    return total / double(order.size());
  }
  double snr(int64_t t) const {
    const double a = acp_[t].item<double>();
    return a / (1 - a);
  }

 private:
  struct Draws {
    torch::Tensor x0, noise, t;
  };
  Draws draw(const std::vector<size_t>& order, double noise_offset = 0) {
    torch::NoGradGuard no_grad;
    at::Generator g = at::detail::createCPUGenerator(c_.seed);
    std::vector<torch::Tensor> latents;
    for (size_t i : order) {
      const auto dist = model_.vae->encode(samples_[i].pixels.unsqueeze(0));
      const auto eps = torch::randn(dist.mean.sizes().slice(1), g, torch::kFloat32);
      latents.push_back((dist.mean[0] + dist.std[0] * eps) * model_.vae->scaling_factor());
    }
    Draws d;
    d.x0 = torch::stack(latents).to(torch::kFloat64);
    const int64_t B = d.x0.size(0), C = d.x0.size(1);
    d.noise = torch::randn(d.x0.sizes(), g, torch::kFloat32).to(torch::kFloat64);
    if (noise_offset > 0) d.noise = d.noise + noise_offset * torch::randn({B, C, 1, 1}, g, torch::kFloat32).to(torch::kFloat64);
    d.t = torch::randint(0, 1000, {B}, g, torch::TensorOptions(torch::kInt64));
    return d;
  }
  TrainConfig c_;
  test::Reference ref_;
  StableDiffusionModel model_;
  std::vector<Sample> samples_;
  torch::Tensor acp_;
};

void expect_close(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, 2e-5 * std::abs(expected)) << what;
}

}  // namespace

TEST(LossFormulas, EpsilonAndVPredictionTargetsAndNoiseOffset) {
  torch::set_num_threads(1);
  auto c = one_step_config("loss_targets", 1);
  HandLoss hand(c);
  expect_close(first_step_loss(c), hand.loss({0}, "epsilon", 0, 0), "epsilon target");
  auto v = c;
  v.prediction_type = "v_prediction";
  expect_close(first_step_loss(v), hand.loss({0}, "v_prediction", 0, 0), "v-prediction target");
  auto off = c;
  off.noise_offset = 0.3;
  const double with_offset = hand.loss({0}, "epsilon", 0, 0.3);
  expect_close(first_step_loss(off), with_offset, "noise_offset 0.3");
  EXPECT_GT(std::abs(with_offset - hand.loss({0}, "epsilon", 0, 0)), 1e-3) << "the offset is visible in the loss";
}

// γ is chosen around the drawn timestep's SNR, so both sides of the min are exercised: γ = SNR/2 halves the
// epsilon weight (1.5 with v-prediction's +1), γ = 2·SNR leaves it at 1 (2 with v-prediction).
TEST(LossFormulas, MinSnrGammaWeights) {
  torch::set_num_threads(1);
  auto c = one_step_config("loss_min_snr", 1);
  HandLoss hand(c);
  const double snr = hand.snr(hand.timesteps()[0].item<int64_t>());
  const double plain = hand.loss({0}, "epsilon", 0, 0);
  for (const std::string prediction : {"epsilon", "v_prediction"}) {
    for (const double factor : {0.5, 2.0}) {
      auto w = c;
      w.prediction_type = prediction;
      w.snr_gamma = factor * snr;
      const std::string what = prediction + ", gamma = " + std::to_string(factor) + " * SNR";
      expect_close(first_step_loss(w), hand.loss({0}, prediction, w.snr_gamma, 0), what);
    }
  }
  auto half = c;
  half.snr_gamma = 0.5 * snr;
  expect_close(first_step_loss(half), 0.5 * plain, "the weight min(SNR, γ)/SNR is 1/2 here");
}

// A caption longer than 75 tokens trains on all its chunks, and a short caption batched with it is padded with
// empty-prompt chunks as inference pads a negative prompt: with frozen text encoders (cached embeddings, padded
// per sample) and with a training text encoder (one encoder call over every sample's chunks).
TEST(LossFormulas, LongCaptionsTrainOnEveryChunk) {
  torch::set_num_threads(1);
  auto c = one_step_config("loss_long_caption", 2);
  std::string caption;
  for (int i = 0; i < 30; ++i) caption += "dots in a ring made of many particles, ";
  std::ofstream(c.data + "/img00.txt") << caption;
  HandLoss hand(c);
  ASSERT_EQ(hand.samples().size(), 2u);
  ASSERT_GE(tokenize_prompt(load_model(c.model), hand.samples()[0].caption).one.size(), 3u);
  // The batch order comes from the trainer's shuffle: one of the two orders must match.
  const double a = hand.loss({0, 1}, "epsilon", 0, 0), b = hand.loss({1, 0}, "epsilon", 0, 0);
  for (const bool text_encoder : {false, true}) {
    c.train_text_encoder = text_encoder;
    const double loss = first_step_loss(c);
    EXPECT_TRUE(std::abs(loss - a) <= 2e-5 * a || std::abs(loss - b) <= 2e-5 * b)
        << "train_text_encoder " << text_encoder << ": trainer " << loss << ", by hand " << a << " or " << b;
  }
}

// SDXL pivotal tuning on a cropped bucket: the caption's TOK becomes <s0><s1> with the run's initial rows in both
// encoders, the pooled embedding comes from the second encoder, and the time ids are (original size, crop
// top-left, bucket size) of that very sample.
TEST(LossFormulas, SdxlPivotalCaptionAndTimeIds) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("loss_sdxl");
  test::write_shapes_dataset(dir + "/data", 1, 96, 48);
  TrainConfig c;
  c.model = test::fixture_path("tiny-sdxl");
  c.data = dir + "/data";
  c.output_dir = dir + "/run";
  c.seed = 11;
  c.max_train_steps = 1;
  c.pivotal = true;
  c.resolution = 64;
  c.buckets = true;
  c.bucket_step = 32;
  c.min_bucket = 32;
  c.max_bucket = 128;
  const double loss = first_step_loss(c);
  HandLoss hand(c, c.output_dir + "/prtkl_emb_init.safetensors");
  const auto& s = hand.samples()[0];
  ASSERT_EQ(s.pixels.size(1), 32);  // the 96x48 image in the 96x32 bucket: a crop, not a resize
  ASSERT_EQ(s.pixels.size(2), 96);
  ASSERT_GT(s.crop_top, 0) << "the seed gives a crop, so the time ids differ from the plain size";
  EXPECT_EQ(s.caption.rfind("<s0><s1>, ", 0), 0u) << s.caption;
  expect_close(loss, hand.loss({0}, "epsilon", 0, 0), "SDXL pivotal step");
}
