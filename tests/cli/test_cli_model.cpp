// `prtkl model init`: a diffusers folder with the configs' architecture and seeded random weights, which loads
// and generates like any model. The tiny fixture configs stand in for the published ones (same code path).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_util.h"
#include "support/fixtures.h"

namespace fs = std::filesystem;
using namespace prtkl;

namespace {
// The fixture's configs without its weights.
std::string tiny_configs(const std::string& model, const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(test::fixture_path(model))) {
    if (e.path().extension() != ".json" || e.path().filename() == "reference.json") continue;
    const auto rel = fs::relative(e.path(), test::fixture_path(model));
    if (rel.begin()->string().rfind("tokenizer", 0) == 0) continue;
    fs::create_directories((fs::path(dir) / rel).parent_path());
    fs::copy_file(e.path(), fs::path(dir) / rel);
  }
  return dir;
}
}  // namespace

TEST(CliModelInit, RandomModelLoadsGeneratesAndIsSeeded) {
  const auto dir = test::scratch_dir("model_init");
  for (const std::string family : {"sd15", "sdxl"}) {
    const std::string fixture = family == "sd15" ? "tiny-sd15" : "tiny-sdxl";
    const auto configs = tiny_configs(fixture, dir + "/configs-" + family);
    const auto init = [&](const std::string& out, int seed) {
      return test::run_command(test::prtkl_binary() + " model init --family " + family + " --configs " + configs +
                               " --tokenizer " + test::fixture_path(fixture + "/tokenizer") + " --out " + out +
                               " --seed " + std::to_string(seed));
    };
    auto r = init(dir + "/a-" + family, 1);
    ASSERT_EQ(r.code, 0) << r.output;
    ASSERT_EQ(init(dir + "/b-" + family, 1).code, 0);
    ASSERT_EQ(init(dir + "/c-" + family, 2).code, 0);
    const auto unet = "/unet/diffusion_pytorch_model.safetensors";
    EXPECT_EQ(read_file(dir + "/a-" + family + unet), read_file(dir + "/b-" + family + unet))
        << "same seed, same weights";
    EXPECT_NE(read_file(dir + "/a-" + family + unet), read_file(dir + "/c-" + family + unet));
    r = test::run_command(test::prtkl_binary() + " generate --model " + dir + "/a-" + family +
                          " --prompt 'a bird' --steps 2 --out " + dir + "/" + family + ".png");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(fs::exists(dir + "/" + family + ".png"));
  }
  const auto bad =
      test::run_command(test::prtkl_binary() + " model init --family sd15 --tokenizer " + dir + " --out " + dir + "/x");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("not a CLIP tokenizer folder"), std::string::npos) << bad.output;
}

// With no --tokenizer, the folder gets OpenAI CLIP's tokenizers built from third_party/clip: SDXL's second pads
// with "!", as stabilityai's does.
TEST(CliModelInit, DefaultTokenizersAreOpenAiClip) {
  const auto dir = test::scratch_dir("model_init_clip");
  const auto configs = tiny_configs("tiny-sdxl", dir + "/configs");
  const auto r = test::run_command(test::prtkl_binary() + " model init --family sdxl --configs " + configs + " --out " +
                                   dir + "/m");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const std::string t : {"tokenizer", "tokenizer_2"}) {
    EXPECT_EQ(read_json_file(dir + "/m/" + t + "/vocab.json").size(), 49408u) << t;
    const auto config = read_json_file(dir + "/m/" + t + "/tokenizer_config.json");
    EXPECT_EQ(config.at("pad_token"), t == "tokenizer" ? "<|endoftext|>" : "!") << t;
    EXPECT_EQ(config.at("model_max_length"), 77) << t;
  }
}

// `prtkl model merge`: --weights reaches the merge (a model merged with itself is itself, whatever the weights),
// and bad weights exit 2 with the reason.
TEST(CliModelMerge, MergesAndRefusesBadWeights) {
  const auto dir = test::scratch_dir("model_merge");
  const auto sd15 = test::fixture_path("tiny-sd15");
  auto r = test::run_command(test::prtkl_binary() + " model merge " + sd15 + " " + sd15 + " --weights 0.3,0.7 --out " +
                             dir + "/m.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  auto merged = SafeTensors::open(dir + "/m.safetensors");
  auto reference = SafeTensors::open(test::fixture_path("tiny-sd15.safetensors"));
  for (const auto& n : reference.names()) {
    ASSERT_TRUE(merged.contains(n)) << n;
    ASSERT_TRUE(torch::allclose(merged.get(n), reference.get(n), 1e-5, 1e-6)) << n;
  }
  r = test::run_command(test::prtkl_binary() + " model merge " + sd15 + " " + sd15 + " -w 0.5,0.6 -o " + dir + "/x");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("sum to 1.1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/x"));
}
