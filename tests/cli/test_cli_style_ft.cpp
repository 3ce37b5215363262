// models/recipe/style_ft.sh scaled down, on the bundled model: pictures in one look (here the model's own drawings
// tinted blue, a look any statistic can measure; the recipe uses the real pictures of a look and the style judge),
// a full fine-tune of tens of steps, `prtkl model extract-lora`, a style folder with that LoRA alone, and `generate
// --style` moving the look of prompts it was not trained on toward the target while `--style none` leaves it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "support/cli_process.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// The look: red and green scaled down, so white turns blue.
void tint_blue(Image& image) {
  for (size_t i = 0; i + 2 < image.pixels.size(); i += static_cast<size_t>(image.channels)) {
    image.pixels[i] = static_cast<uint8_t>(image.pixels[i] * 0.55);
    image.pixels[i + 1] = static_cast<uint8_t>(image.pixels[i + 1] * 0.55);
  }
}

// Mean of blue minus red over a picture, in 0..255.
double blueness(const std::string& png) {
  const auto image = read_image(png);
  double sum = 0;
  size_t n = 0;
  for (size_t i = 0; i + 2 < image.pixels.size(); i += static_cast<size_t>(image.channels), ++n)
    sum += double(image.pixels[i + 2]) - double(image.pixels[i]);
  return sum / double(n);
}

}  // namespace

TEST(StyleFineTune, AFineTuneExtractedAsALoraMovesTheLookOfUnseenPrompts) {
  const auto dir = test::scratch_dir("style_ft");
  const auto model = test::source_dir() + "/models/prtkl-emoji";
  write_file_atomic(dir + "/prompts.txt", "cat face\nred apple\nghost\nrocket\nsun\nhouse\n");
  auto r = test::run_prtkl("dataset generate --threads 1 --model " + model + " --prompts " + dir + "/prompts.txt --out " +
                     dir + "/cand --variations 2 --steps 4 --cfg 2");
  ASSERT_EQ(r.code, 0) << r.output;

  // The training folder: every candidate in the look, captioned with its prompt.
  fs::create_directories(dir + "/train");
  std::ifstream list(dir + "/cand/candidates.jsonl");
  std::string rows;
  int images = 0;
  for (std::string line; std::getline(list, line);) {
    const auto row = Json::parse(line);
    auto image = read_image(dir + "/cand/" + row["file_name"].get<std::string>());
    tint_blue(image);
    const auto name = "img" + std::to_string(images++) + ".png";
    write_png(dir + "/train/" + name, image);
    rows += Json({{"file_name", name}, {"text", row["prompt"]}}).dump() + "\n";
  }
  ASSERT_EQ(images, 12);
  write_file_atomic(dir + "/train/metadata.jsonl", rows);

  r = test::run_prtkl("train --threads 1 --config " + test::source_dir() + "/models/recipe/train_style_ft_1.json --model " +
                model + " --data " + dir + "/train/metadata.jsonl --out " + dir + "/run --set max_train_steps=40 " +
                "--set batch_size=4 --set lr=3e-4 --set lr_warmup_steps=0 --set checkpoint_every=1000 " +
                "--set validation_prompts='[]' --set ema_decay=0 --set mixed_precision='\"no\"'");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto style = dir + "/styles/blue";
  r = test::run_prtkl("model extract-lora " + model + " " + dir + "/run/model --rank 8 --out " + style + "/prtkl.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("137 layers"), std::string::npos) << r.output;
  write_file_atomic(style + "/style.json", R"({"embeddings": "", "prompt": "{prompt}"})");

  // Prompts the run never saw.
  double styled = 0, plain = 0;
  for (const std::string prompt : {"penguin", "pizza", "guitar", "tree"}) {
    for (const std::string flag : {"--style " + style, std::string("--style none")}) {
      const auto out = dir + "/" + prompt + (flag == "--style none" ? "-plain" : "-styled") + ".png";
      r = test::run_prtkl("generate --threads 1 --model " + model + " --prompt '" + prompt + "' --seed 5 " + flag + " --out " + out);
      ASSERT_EQ(r.code, 0) << r.output;
      (flag == "--style none" ? plain : styled) += blueness(out) / 4;
    }
  }
  EXPECT_LT(plain, 15) << "the bundled model's own pictures are mostly white";
  EXPECT_GT(styled, plain + 60) << "styled " << styled << ", plain " << plain;
}
