// The models folder: `prtkl models` lists models (family, layout, dtype), LoRAs and embeddings, and names from it
// work wherever a path does (--model, --lora NAME:scale, --embeddings).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_util.h"
#include "core/json_config.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

TEST(CliModels, ListsTheFolderAndResolvesNames) {
  const auto dir = test::scratch_dir("models_folder");
  const auto models = dir + "/models";
  fs::create_directories(models + "/lora");
  fs::create_directories(models + "/embeddings");
  fs::copy(test::fixture_path("tiny-sd15"), models + "/tiny", fs::copy_options::recursive);
  fs::copy_file(test::fixture_path("tiny-sdxl.safetensors"), models + "/xl.safetensors");
  fs::copy_file(test::fixture_path("tiny-sd15/adapters/lora_unet_kohya.safetensors"), models + "/lora/style.safetensors");
  fs::copy_file(test::fixture_path("tiny-sd15/adapters/learned_embeds.safetensors"),
                models + "/embeddings/token.safetensors");
  write_file_atomic(models + "/broken.safetensors", std::string("not a safetensors file"));
  write_file_atomic(models + "/notes.txt", std::string("not a model"));
  const auto env = "PRTKL_MODELS=" + models + " ";

  auto r = test::run_command(env + test::prtkl_binary() + " models --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto listing = Json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(listing["dir"], models);
  std::map<std::string, Json> by_name;
  for (const auto& e : listing["entries"]) by_name[e["name"].get<std::string>()] = e;
  ASSERT_EQ(by_name.size(), 5u) << listing.dump(2);
  EXPECT_EQ(by_name["tiny"]["family"], "sd15");
  EXPECT_EQ(by_name["tiny"]["layout"], "diffusers");
  EXPECT_EQ(by_name["tiny"]["dtype"], "F32");
  EXPECT_EQ(by_name["xl"]["family"], "sdxl");
  EXPECT_EQ(by_name["xl"]["layout"], "single-file");
  EXPECT_EQ(by_name["xl"]["bytes"], static_cast<int64_t>(fs::file_size(models + "/xl.safetensors")));
  EXPECT_TRUE(by_name["broken"].contains("error")) << "listed, with why it cannot be read";
  EXPECT_EQ(by_name["style"]["kind"], "lora");
  EXPECT_EQ(by_name["token"]["kind"], "embedding");
  r = test::run_command(env + test::prtkl_binary() + " models");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tiny"), std::string::npos) << r.output;

  // Names instead of paths: the LoRA at 0.5 and the embedding change the picture the model alone draws.
  const std::string gen = env + test::prtkl_binary() + " generate --model tiny --prompt 'a cat' --steps 2 --seed 1";
  r = test::run_command(gen + " --out " + dir + "/plain.png");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_command(gen + " --lora style:0.5 --embeddings token --out " + dir + "/styled.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_file(dir + "/plain.png"), read_file(dir + "/styled.png"));
  r = test::run_command(env + test::prtkl_binary() + " generate --model nope --prompt x --out " + dir + "/x.png");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(models), std::string::npos) << "the error names the models folder: " << r.output;
}
