// The trainer on tiny-sdxl, the product's main recipe: pivotal tuning with both encoders' rows, text-encoder
// LoRAs on both encoders, aspect-ratio buckets with random crops and flips. A resumed run equals an uninterrupted
// one; the written files have the key layout of the reference files diffusers and kohya's conversion wrote for the
// same targets, and loaded through the adapter loader they reproduce the trained model's image.
#include <gtest/gtest.h>

#include <filesystem>

#include "adapters/adapter_setup.h"
#include "core/file_util.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"
#include "train/trainer.h"
#include "train_data.h"

using namespace prtkl;

namespace {

TrainConfig sdxl_config(const std::string& name) {
  const auto dir = test::scratch_dir(name);
  test::write_shapes_dataset(dir + "/data", 3, 96, 48);  // 2:1 images in 3:1 buckets: cropped
  TrainConfig c;
  c.model = test::fixture_path("tiny-sdxl");
  c.data = dir + "/data";
  c.output_dir = dir + "/run";
  c.resolution = 64;
  c.buckets = true;
  c.bucket_step = 32;
  c.min_bucket = 32;
  c.max_bucket = 128;
  c.random_flip = true;
  c.pivotal = true;
  c.train_text_encoder = true;
  c.ti_frac = 0.75;
  c.lr = 5e-3;
  c.text_encoder_lr = 5e-3;
  c.seed = 3;
  c.log_every = 1;
  c.max_train_steps = 4;
  c.checkpoint_every = 2;
  return c;
}

std::set<std::string> keys(const std::string& file) {
  const auto st = SafeTensors::open(file);
  return {st.names().begin(), st.names().end()};
}

// The trainer's files against the reference LoRA files of the same model (same targets, rank 4, alpha 4).
void expect_reference_layout(const TrainConfig& c, const std::string& model) {
  const auto adapters = test::fixture_path(model + "/adapters/");
  for (const auto& [ours, reference] : {std::pair<std::string, std::string>{"pytorch_lora_weights", "lora_te_peft"},
                                        {c.name, "lora_te_kohya"}}) {
    SCOPED_TRACE(ours);
    const auto file = c.output_dir + "/" + ours + ".safetensors";
    EXPECT_EQ(keys(file), keys(adapters + reference + ".safetensors"));
    const auto st = SafeTensors::open(file), ref = SafeTensors::open(adapters + reference + ".safetensors");
    for (const auto& k : ref.names()) {
      if (!st.contains(k)) continue;
      EXPECT_EQ(st.info(k).shape, ref.info(k).shape) << k;
      if (k.size() > 6 && k.compare(k.size() - 6, 6, ".alpha") == 0) EXPECT_EQ(st.get(k).item<double>(), 4.0) << k;
      else EXPECT_EQ(st.info(k).dtype, "F32") << k;
    }
  }
  EXPECT_EQ(SafeTensors::open(c.output_dir + "/pytorch_lora_weights.safetensors").metadata().at("format"), "pt");
  if (!c.pivotal) return;
  // The token rows as diffusers' advanced script saves them (the fixture's prtkl_emb, written by its
  // TokenEmbeddingsHandler.save_embeddings): a block per encoder under the same names, shapes and dtype.
  const auto emb_file = c.output_dir + "/" + c.name + "_emb.safetensors", ref_file = adapters + "prtkl_emb.safetensors";
  EXPECT_EQ(keys(emb_file), keys(ref_file));
  const auto emb = SafeTensors::open(emb_file), ref_emb = SafeTensors::open(ref_file);
  for (const auto& k : ref_emb.names()) {
    if (!emb.contains(k)) continue;
    EXPECT_EQ(emb.info(k).shape, ref_emb.info(k).shape) << k;
    EXPECT_EQ(emb.info(k).dtype, ref_emb.info(k).dtype) << k;
  }
}

}  // namespace

TEST(SdxlTrainer, PivotalRunResumesExactly) {
  torch::set_num_threads(1);
  auto a = sdxl_config("sdxl_resume_a");
  Trainer(a).run();
  auto b = a;
  b.output_dir = test::scratch_dir("sdxl_resume_b") + "/run";
  TrainCallbacks stop_at_2;
  stop_at_2.on_step = [](const TrainStep& s) { return s.step < 2; };
  EXPECT_EQ(Trainer(b).run(stop_at_2).steps, 2);
  b.resume = "latest";
  EXPECT_TRUE(Trainer(b).run().finished);
  ASSERT_FALSE(test::csv_column(a.output_dir + "/loss.csv", 1).empty());
  for (const int column : {0, 1})  // step, loss
    EXPECT_EQ(test::csv_column(a.output_dir + "/loss.csv", column), test::csv_column(b.output_dir + "/loss.csv", column));
  for (const auto* f : {"/prtkl_emb.safetensors", "/pytorch_lora_weights.safetensors"}) {
    const auto ta = SafeTensors::open(a.output_dir + f), tb = SafeTensors::open(b.output_dir + f);
    for (const auto& n : ta.names()) EXPECT_TRUE(torch::equal(ta.get(n), tb.get(n))) << f << " " << n;
  }
}

TEST(SdxlTrainer, OutputsHaveTheReferenceLayoutAndReproduceTheImage) {
  torch::set_num_threads(1);
  auto c = sdxl_config("sdxl_outputs");
  c.max_train_steps = 3;
  c.checkpoint_every = 3;
  Trainer trainer(c);
  trainer.run();
  expect_reference_layout(c, "tiny-sdxl");

  // Both encoders' rows trained.
  const auto emb = SafeTensors::open(c.output_dir + "/prtkl_emb.safetensors");
  const auto init = SafeTensors::open(c.output_dir + "/prtkl_emb_init.safetensors");
  for (const auto* k : {"clip_l", "clip_g"}) {
    ASSERT_TRUE(emb.contains(k)) << k;
    EXPECT_EQ(emb.get(k).size(1), init.get(k).size(1)) << k;
    EXPECT_GT((emb.get(k) - init.get(k)).abs().max().item<double>(), 1e-4) << k << " rows did not train";
  }

  GenerateParams p;
  p.prompt = "<s0><s1>, a ring made of particles";
  p.steps = 2;
  p.seed = 9;
  p.width = 96;
  p.height = 32;
  auto& trained = trainer.model();
  trained.unet->eval();
  trained.text_encoder->eval();
  trained.text_encoder_2->eval();
  const auto expected = StableDiffusionPipeline(trained).generate(p).images;
  for (const auto& lora : {c.output_dir + "/pytorch_lora_weights.safetensors", c.output_dir + "/prtkl.safetensors"}) {
    SCOPED_TRACE(lora);
    auto fresh = load_model(c.model);
    const auto applied = apply_adapters(fresh, {lora}, {c.output_dir + "/prtkl_emb.safetensors"});
    EXPECT_TRUE(applied.warnings.empty()) << applied.warnings.front();
    EXPECT_LT((StableDiffusionPipeline(fresh).generate(p).images - expected).abs().max().item<double>(), 1e-4);
  }
  // Each contrast changes one thing, the prompt stays: the trained rows without the LoRA, and the LoRA without them.
  auto rows_only = load_model(c.model);
  apply_adapters(rows_only, {}, {c.output_dir + "/prtkl_emb.safetensors"});
  EXPECT_GT((StableDiffusionPipeline(rows_only).generate(p).images - expected).abs().max().item<double>(), 1e-3)
      << "the LoRA changes the picture: the comparison above can tell";
  auto lora_only = load_model(c.model);
  apply_adapters(lora_only, {c.output_dir + "/pytorch_lora_weights.safetensors"},
                 {c.output_dir + "/prtkl_emb_init.safetensors"});
  EXPECT_GT((StableDiffusionPipeline(lora_only).generate(p).images - expected).abs().max().item<double>(), 1e-3)
      << "the trained rows change the picture";
}

TEST(Sd15Trainer, OutputsHaveTheReferenceLayout) {
  torch::set_num_threads(1);
  auto c = test::shapes_run("sd15_layout", 1);
  c.train_text_encoder = true;
  c.max_train_steps = 1;
  Trainer(c).run();
  expect_reference_layout(c, "tiny-sd15");
}
