// `prtkl sweep` over a fake training run built from the tiny-sd15 fixture adapters: every cell, sweep.json, the
// contact sheet, index.html escaping, validation-image reuse, determinism across LoRA/embedding switches, and
// the bad input that must end in a one-line error with exit code 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "core/text_render.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

void expect_input_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  const auto at = r.output.rfind("prtkl: error:");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto last = r.output.substr(at);
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << "one line: " << last;
  EXPECT_NE(last.find(needle), std::string::npos) << "expected '" << needle << "' in: " << last;
}

// checkpoint-1: the fixture LoRA and embeddings; checkpoint-2: LoRA B × 2, embeddings × 1.5; final: checkpoint-1.
std::string make_run(const std::string& scratch) {
  const auto run = scratch + "/run";
  const auto adapters = test::fixture_path("tiny-sd15/adapters");
  fs::create_directories(run + "/checkpoint-1");
  fs::create_directories(run + "/checkpoint-2");
  write_file_atomic(run + "/config.json", Json{{"model", test::fixture_path("tiny-sd15")}, {"name", "prtkl"}}.dump(2));
  for (const auto& dir : {run + "/checkpoint-1", run}) {
    fs::copy_file(adapters + "/lora_unet_peft.safetensors", dir + "/pytorch_lora_weights.safetensors");
    fs::copy_file(adapters + "/prtkl_emb.safetensors", dir + "/prtkl_emb.safetensors");
  }
  for (const auto& e : fs::recursive_directory_iterator(run))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  auto lora = SafeTensors::open(adapters + "/lora_unet_peft.safetensors");
  TensorMap scaled;
  for (const auto& n : lora.names()) scaled[n] = n.find("lora_B") != std::string::npos ? lora.get(n) * 2 : lora.get(n);
  save_safetensors(run + "/checkpoint-2/pytorch_lora_weights.safetensors", scaled, lora.metadata());
  auto emb = SafeTensors::open(adapters + "/prtkl_emb.safetensors");
  save_safetensors(run + "/checkpoint-2/prtkl_emb.safetensors", {{"clip_l", emb.get("clip_l") * 1.5}});
  return run;
}

std::string write_prompts(const std::string& dir, const std::string& text) {
  const auto path = dir + "/prompts.txt";
  write_file_atomic(path, text);
  return path;
}

std::string sweep_args(const std::string& run, const std::string& prompts, const std::string& out) {
  return "sweep --run " + run + " --prompts " + prompts + " --seeds 1,2 --steps 2 --out " + out;
}

}  // namespace

TEST(CliSweep, WritesCellsJsonContactSheetAndHtml) {
  const auto dir = test::scratch_dir("sweep");
  const auto run = make_run(dir);
  const auto prompts = write_prompts(dir, "# trigger prompts\n<s0><s1> on a <b>hill</b>\n\n  a cat  \n");
  const auto out = dir + "/out";
  auto r = test::run_prtkl(sweep_args(run, prompts, out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("12 rendered, 0 reused"), std::string::npos) << r.output;

  const std::vector<std::string> cps{"checkpoint-1", "checkpoint-2", "final"};
  const auto sweep = read_json_file(out + "/sweep.json");
  EXPECT_EQ(sweep.size(), 4u) << sweep.dump();
  EXPECT_EQ(sweep.at("checkpoints"), Json(cps));
  EXPECT_EQ(sweep.at("prompts"), Json({"<s0><s1> on a <b>hill</b>", "a cat"}));
  EXPECT_EQ(sweep.at("seeds"), Json({1, 2}));
  ASSERT_EQ(sweep.at("cells").size(), 12u);
  const auto& first = sweep.at("cells").at(0);
  EXPECT_EQ(first,
            Json({{"checkpoint", "checkpoint-1"}, {"prompt", 0}, {"seed", 1}, {"file", "checkpoint-1-p0-s1.png"}}));
  for (const auto& c : sweep.at("cells")) {
    const auto file = c.at("file").get<std::string>();
    EXPECT_EQ(file, c.at("checkpoint").get<std::string>() + "-p" + std::to_string(c.at("prompt").get<int>()) + "-s" +
                        std::to_string(c.at("seed").get<int>()) + ".png");
    const auto im = read_image(out + "/" + file);
    EXPECT_EQ(im.width, 64);
    EXPECT_EQ(im.height, 64);
  }

  // Different checkpoints render differently; "final" holds checkpoint-1's files, so it matches it exactly.
  EXPECT_NE(read_image(out + "/checkpoint-1-p0-s1.png").pixels, read_image(out + "/checkpoint-2-p0-s1.png").pixels);
  EXPECT_EQ(read_image(out + "/checkpoint-1-p0-s1.png").pixels, read_image(out + "/final-p0-s1.png").pixels);

  // Contact sheet: 3 rows × 4 columns of 64×64 cells plus a label margin on the left and on top.
  const auto sheet = read_image(out + "/contact.png");
  const int left = sheet.width - 4 * 64, top = sheet.height - 3 * 64;
  EXPECT_GE(left, text_width("checkpoint-2"));
  EXPECT_LE(left, text_width("checkpoint-2") + 16);
  EXPECT_GE(top, 2 * text_height());
  EXPECT_LE(top, 2 * text_height() + 24);

  const auto html = read_file(out + "/index.html");
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;s0&gt;&lt;s1&gt; on a &lt;b&gt;hill&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("href=\"final-p1-s2.png\""), std::string::npos);
  EXPECT_NE(html.find("checkpoint-2"), std::string::npos);

  // One checkpoint on its own gives the same bytes as inside the full sweep (LoRA restored, embeddings replaced).
  const auto alone = dir + "/alone";
  r = test::run_prtkl(sweep_args(run, prompts, alone) + " --checkpoints checkpoint-2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_json_file(alone + "/sweep.json").at("checkpoints"), Json({"checkpoint-2"}));
  for (const auto& f : {"checkpoint-2-p0-s1.png", "checkpoint-2-p1-s2.png"})
    EXPECT_EQ(read_file(out + "/" + f), read_file(alone + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(alone + "/checkpoint-1-p0-s1.png"));
}

TEST(CliSweep, ReusesMatchingValidationImages) {
  const auto dir = test::scratch_dir("sweep");
  const auto run = make_run(dir);
  const auto prompts = write_prompts(dir, "a cat\n");
  // A distinctive image where checkpoint-1's validation would be; one entry matches, one has other steps.
  Image marker;
  marker.width = 64, marker.height = 64, marker.channels = 3;
  marker.pixels.assign(64 * 64 * 3, 0);
  for (size_t i = 0; i < marker.pixels.size(); i += 3) marker.pixels[i] = 255;
  fs::create_directories(run + "/checkpoint-1/validation");
  write_png(run + "/checkpoint-1/validation/p0-s1.png", marker);
  write_png(run + "/checkpoint-1/validation/p0-s2.png", marker);
  Json index = Json::array();
  index.push_back({{"prompt", "a cat"},
                   {"seed", 1},
                   {"file", "p0-s1.png"},
                   {"steps", 2},
                   {"cfg", 7.0},
                   {"sampler", "euler"},
                   {"width", 64},
                   {"height", 64}});
  index.push_back({{"prompt", "a cat"},
                   {"seed", 2},
                   {"file", "p0-s2.png"},
                   {"steps", 20},
                   {"cfg", 7.0},
                   {"sampler", "euler"},
                   {"width", 64},
                   {"height", 64}});
  write_file_atomic(run + "/checkpoint-1/validation/index.json", index.dump());

  const auto out = dir + "/out";
  auto r = test::run_prtkl(sweep_args(run, prompts, out) + " --checkpoints checkpoint-1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 rendered, 1 reused"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(out + "/checkpoint-1-p0-s1.png"), read_file(run + "/checkpoint-1/validation/p0-s1.png"));
  EXPECT_NE(read_image(out + "/checkpoint-1-p0-s2.png").pixels, marker.pixels);
}

TEST(CliSweep, DefaultsToRunSweepFolder) {
  const auto dir = test::scratch_dir("sweep");
  const auto run = make_run(dir);
  const auto prompts = write_prompts(dir, "a cat\n");
  auto r = test::run_prtkl("sweep --run " + run + " --prompts " + prompts + " --seeds 3 --steps 2 --checkpoints final");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(run + "/sweep/final-p0-s3.png"));
  EXPECT_TRUE(fs::exists(run + "/sweep/contact.png"));
}

TEST(CliSweep, BadInputIsAOneLineError) {
  const auto dir = test::scratch_dir("sweep");
  const auto run = make_run(dir);
  const auto prompts = write_prompts(dir, "a cat\n");
  const auto out = dir + "/out";

  const auto empty = dir + "/empty-run";
  fs::create_directories(empty);
  write_file_atomic(empty + "/config.json", Json{{"model", test::fixture_path("tiny-sd15")}, {"name", "x"}}.dump());
  expect_input_error(test::run_prtkl(sweep_args(empty, prompts, out)), "no checkpoints");
  expect_input_error(test::run_prtkl(sweep_args(run, dir + "/missing.txt", out)), "missing.txt");
  expect_input_error(test::run_prtkl(sweep_args(run, prompts, out) + " --checkpoints checkpoint-7"), "checkpoint-7");
  expect_input_error(test::run_prtkl("sweep --run " + run + " --prompts " + prompts + " --seeds '' --steps 2"), "--seeds");
  expect_input_error(test::run_prtkl("sweep --run " + run + " --prompts " + prompts + " --seeds , --steps 2"), "no seeds");
  EXPECT_FALSE(fs::exists(out + "/sweep.json"));
}
