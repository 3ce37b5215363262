// A single-file checkpoint with nothing beside it: prtkl takes the configs of its family from its own tree
// (configs/<family>) and OpenAI CLIP's tokenizer from third_party/clip, and draws exactly what it draws when a
// diffusers config folder with that tokenizer is passed explicitly.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "support/fixtures.h"
#include "text/clip_vocab.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// tiny-sd15's configs (no weights, no tokenizer) with a text encoder as wide as CLIP's vocabulary.
void write_configs(const std::string& to) {
  const fs::path from = test::fixture_path("tiny-sd15");
  for (const auto& e : fs::recursive_directory_iterator(from)) {
    const auto rel = fs::relative(e.path(), from);
    if (e.path().extension() != ".json" || rel.begin()->string() == "tokenizer" || rel.begin()->string() == "adapters" ||
        rel.string().rfind("reference", 0) == 0)
      continue;
    fs::create_directories((fs::path(to) / rel).parent_path());
    fs::copy_file(e.path(), fs::path(to) / rel);
  }
  auto te = read_json_file(to + "/text_encoder/config.json");
  te["vocab_size"] = 49408;
  write_file_atomic(to + "/text_encoder/config.json", te.dump(2));
}

}  // namespace

TEST(CliSingleFile, NothingBesideTheFileIsNeeded) {
  const auto dir = test::scratch_dir("single_file");
  // A private prtkl tree: configs/sd15 and third_party/clip, as the source tree has them.
  const auto home = dir + "/home";
  write_configs(home + "/configs/sd15");
  fs::create_directories(home + "/third_party/clip");
  fs::copy_file(test::source_dir() + "/third_party/clip/merges.txt", home + "/third_party/clip/merges.txt");
  // The tiny checkpoint (LDM key names) with its token embedding grown to CLIP's 49,408 rows.
  auto tensors = SafeTensors::open(test::fixture_path("tiny-sd15.safetensors")).all();
  const std::string emb = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight";
  ASSERT_TRUE(tensors.count(emb));
  torch::manual_seed(0);
  const auto rows = tensors.at(emb);
  tensors[emb] = torch::cat({rows, 0.02 * torch::randn({49408 - rows.size(0), rows.size(1)}).to(rows.dtype())});
  fs::create_directories(dir + "/alone");
  const auto file = dir + "/alone/tiny.safetensors";
  save_safetensors(file, tensors);
  // The explicit way: a config folder with the tokenizer written out.
  write_configs(dir + "/explicit");
  write_clip_tokenizer(read_bpe_merges(home + "/third_party/clip/merges.txt"), {}, dir + "/explicit/tokenizer");

  const std::string args = " generate --model " + file + " --prompt 'a photo of a cat' --steps 2 --seed 3";
  auto r = test::run_command("PRTKL_HOME=" + home + " " + test::prtkl_binary() + args + " --out " + dir + "/a.png");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_command(test::prtkl_binary() + args + " --config " + dir + "/explicit --out " + dir + "/b.png");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = read_image(dir + "/a.png"), b = read_image(dir + "/b.png");
  EXPECT_EQ(a.width, 64);
  EXPECT_TRUE(a.pixels == b.pixels) << "the file alone draws what the explicit configs and tokenizer draw";
  // The CLIP ids reach the encoder: a prompt whose ids lie beyond tiny-sd15's own 1,000 tokens draws differently.
  r = test::run_command("PRTKL_HOME=" + home + " " + test::prtkl_binary() + " generate --model " + file +
                        " --prompt 'a photo of a dog' --steps 2 --seed 3 --out " + dir + "/c.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(read_image(dir + "/c.png").pixels == a.pixels);

  // Without configs of its family anywhere, one line says what to pass.
  fs::remove_all(home + "/configs");
  r = test::run_command("PRTKL_HOME=" + home + " " + test::prtkl_binary() + args + " --out " + dir + "/d.png");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--config"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/d.png"));
}
