#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"
#include "train/dataset.h"
#include "train/lr_schedule.h"
#include "train/train_config.h"
#include "train_data.h"

using namespace prtkl;
namespace fs = std::filesystem;

TEST(Dataset, FolderCaptionsTriggerRepeatsAndSkippedImages) {
  const auto dir = test::scratch_dir("dataset_folder");
  test::write_shapes_dataset(dir, 3);
  std::ofstream(dir + "/broken.png") << "not a png at all";
  std::ofstream(dir + "/notes.md") << "ignored: not an image";
  fs::remove(dir + "/img02.txt");  // no caption: the default caption
  DatasetOptions o;
  o.path = dir;
  o.trigger = "prtkl";
  o.default_caption = "particles";
  o.resolution = 16;
  o.repeats = 2;
  const auto d = load_dataset(o);
  ASSERT_EQ(d.train.size(), 6u);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_NE(d.skipped[0].find("broken.png"), std::string::npos);
  for (const auto& s : d.train) {
    EXPECT_EQ(s.pixels.sizes(), torch::IntArrayRef({3, 16, 16}));
    EXPECT_EQ(s.caption.rfind("prtkl, ", 0), 0u) << s.caption;
    // Every sample keeps its own caption (the pairing the cached latents rely on).
    const auto stem = fs::path(s.file).stem().string();
    if (stem == "img00") EXPECT_EQ(s.caption, "prtkl, a ring made of particles");
    if (stem == "img01") EXPECT_EQ(s.caption, "prtkl, a bar made of particles");
    if (stem == "img02") EXPECT_EQ(s.caption, "prtkl, particles");
  }
  EXPECT_GE(d.train[0].pixels.min().item<float>(), -1.f);
  EXPECT_LE(d.train[0].pixels.max().item<float>(), 1.f);
  // The trigger after the caption (the bundled styles' form); a template without {caption} is an error.
  o.trigger_template = "{caption} {trigger}";
  for (const auto& s : load_dataset(o).train)
    if (fs::path(s.file).stem() == "img01") EXPECT_EQ(s.caption, "a bar made of particles prtkl");
  o.trigger_template = "{trigger} only";
  EXPECT_THROW(load_dataset(o), Error);
  o.trigger_template = "{trigger}, {caption}";
  // The hash changes with a caption.
  std::ofstream(dir + "/img00.txt") << "something else";
  const auto recaptioned = load_dataset(o).hash;
  EXPECT_NE(recaptioned, d.hash);
  // And with an image's bytes.
  fs::copy_file(dir + "/img00.png", dir + "/img01.png", fs::copy_options::overwrite_existing);
  EXPECT_NE(load_dataset(o).hash, recaptioned);
}

TEST(Dataset, MetadataJsonlAndHeldOut) {
  const auto dir = test::scratch_dir("dataset_jsonl");
  test::write_shapes_dataset(dir + "/images", 4);
  std::ofstream(dir + "/metadata.jsonl") << "{\"file_name\": \"images/img00.png\", \"text\": \"first\"}\n"
                                         << "{\"file_name\": \"images/img01.png\", \"text\": \"second\"}\n\n"
                                         << "{\"file_name\": \"images/missing.png\", \"text\": \"gone\"}\n"
                                         << "{\"file_name\": \"images/img03.png\", \"text\": \"fourth\"}\n";
  DatasetOptions o;
  o.path = dir + "/metadata.jsonl";
  o.resolution = 16;
  o.held_out = 1;
  const auto d = load_dataset(o);
  EXPECT_EQ(d.train.size(), 2u);
  EXPECT_EQ(d.held_out.size(), 1u);
  EXPECT_EQ(d.skipped.size(), 1u);
  std::ofstream(dir + "/bad.jsonl") << "{\"text\": \"no file\"}\n";
  o.path = dir + "/bad.jsonl";
  EXPECT_THROW(load_dataset(o), Error);
  o.path = dir + "/nothing-here";
  EXPECT_THROW(load_dataset(o), Error);
}

TEST(Dataset, BucketsKeepTheAspectRatioAndRandomCropsAreSeeded) {
  const auto dir = test::scratch_dir("dataset_buckets");
  test::write_shapes_dataset(dir, 2, 64, 32);  // 2:1 landscape
  DatasetOptions o;
  o.path = dir;
  o.resolution = 32;
  o.buckets = true;
  o.bucket_step = 8;
  o.min_bucket = 16;
  o.max_bucket = 64;
  const auto d = load_dataset(o);
  const double aspect = double(d.train[0].pixels.size(2)) / double(d.train[0].pixels.size(1));
  EXPECT_GT(aspect, 1.5) << "a 2:1 image lands in the nearest landscape bucket";
  for (const auto& [h, w] : bucket_resolutions(32, 8, 16, 64)) {
    EXPECT_LE(h * w, 32 * 32);
    EXPECT_EQ(h % 8, 0);
  }
  // Unset sizes follow the resolution: kohya's SD 1.5 buckets at 512, buckets of its own size for a 64 px model.
  DatasetOptions sd15, small;
  sd15.resolution = 512;
  small.resolution = 64;
  EXPECT_EQ(bucket_sides(sd15).min, 256);
  EXPECT_EQ(bucket_sides(sd15).max, 1024);
  EXPECT_EQ(bucket_sides(sd15).step, 64);
  EXPECT_EQ(bucket_sides(small).min, 32);
  EXPECT_EQ(bucket_sides(small).max, 128);
  EXPECT_EQ(bucket_sides(small).step, 8);
  EXPECT_EQ(bucket_sides(o).step, 8) << "given sizes win";
  o.buckets = false;
  o.center_crop = false;
  o.random_flip = true;
  o.seed = 5;
  const auto a = load_dataset(o), b = load_dataset(o);
  EXPECT_TRUE(torch::equal(a.train[0].pixels, b.train[0].pixels)) << "same seed, same crops";
  EXPECT_EQ(a.train[0].pixels.size(1), 32);
  EXPECT_EQ(a.train[0].original_w, 64);
}

TEST(LrSchedule, MatchesDiffusersShapes) {
  EXPECT_DOUBLE_EQ(lr_factor("constant", 0, 100, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("constant_with_warmup", 5, 100, 10), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor("linear", 0, 100, 0), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("linear", 55, 100, 10), 0.5);
  EXPECT_NEAR(lr_factor("cosine", 50, 100, 0), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor("cosine", 100, 100, 0), 0.0, 1e-12);
  EXPECT_THROW(lr_factor("wavy", 1, 10, 0), Error);
}

TEST(TrainConfig, JsonRoundTripPresetAndErrors) {
  TrainConfig c = train_preset("ready");
  EXPECT_TRUE(c.pivotal);
  EXPECT_EQ(c.rank, 16);
  EXPECT_DOUBLE_EQ(c.lr, 7e-5);
  EXPECT_DOUBLE_EQ(c.text_encoder_lr, 2e-4);
  EXPECT_DOUBLE_EQ(c.ti_frac, 0.3);
  EXPECT_EQ(c.max_train_steps, 2200);
  EXPECT_EQ(c.optimizer, OptimizerKind::kAdamW);
  EXPECT_TRUE(c.gradient_checkpointing);
  EXPECT_EQ(c.base_dtype, "bf16");
  EXPECT_TRUE(c.cache_latents && c.cache_text_embeddings);
  TrainConfig d;
  d.apply_json(c.to_json(), "round trip");
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_THROW(d.apply_json(Json{{"rnak", 4}}, "x.json"), Error);
  try {
    d.apply_json(Json{{"rank", "big"}}, "x.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"rank\""), std::string::npos);
  }
  TrainConfig p;
  p.model = "m";
  p.data = "d";
  p.output_dir = "o";
  p.optimizer = OptimizerKind::kProdigy;
  p.lr = 1.0;
  p.pivotal = true;
  p.resolve();
  EXPECT_DOUBLE_EQ(p.text_encoder_lr, 1.0) << "Prodigy + pivotal works without passing the embedding lr";
  EXPECT_DOUBLE_EQ(p.alpha, double(p.rank));
  EXPECT_THROW(train_preset("nope"), Error);
  TrainConfig bad;
  EXPECT_THROW(bad.resolve(), Error);
}
