// Style folders (src/adapters/style.h): what a folder holds and how a name is found, and StyleSwitch putting one
// style at a time on a loaded model without leaving anything of the previous one behind.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "adapters/style.h"
#include "adapters/style_switch.h"
#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// styles/NAME/ with the files a `prtkl train` run folder has, from the fixtures.
std::string make_style(const std::string& root, const std::string& name, const std::string& lora = "lora_unet_kohya") {
  const auto dir = root + "/" + name;
  fs::create_directories(dir);
  const auto adapters = test::fixture_path("tiny-sd15/adapters/");
  fs::copy_file(adapters + lora + ".safetensors", dir + "/prtkl.safetensors");
  fs::copy_file(adapters + "prtkl_emb.safetensors", dir + "/prtkl_emb.safetensors");
  return dir;
}

// PRTKL_MODELS pointed at a folder for one test.
class ModelsFolder {
 public:
  explicit ModelsFolder(const std::string& dir) {
    if (const char* old = std::getenv("PRTKL_MODELS")) old_ = old, had_ = true;
    setenv("PRTKL_MODELS", dir.c_str(), 1);
  }
  ~ModelsFolder() { had_ ? setenv("PRTKL_MODELS", old_.c_str(), 1) : unsetenv("PRTKL_MODELS"); }

 private:
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST(Style, FolderDefaultsAreATrainRunsFiles) {
  const auto dir = make_style(test::scratch_dir("style_defaults"), "flat");
  const auto s = read_style(dir);
  EXPECT_EQ(s.name, "flat");
  EXPECT_EQ(s.lora, dir + "/prtkl.safetensors");
  EXPECT_EQ(s.embeddings, dir + "/prtkl_emb.safetensors");
  EXPECT_EQ(s.lora_scale, 1.0);
  // The trainer's captions: "TOK, caption" with TOK -> <s0><s1> (train_config.cpp, dataset.cpp).
  EXPECT_EQ(s.wrap("a cat"), "<s0><s1>, a cat");
  EXPECT_EQ(s.lora_spec(), dir + "/prtkl.safetensors:1");
}

TEST(Style, StyleJsonNamesFilesScaleAndTemplate) {
  const auto dir = make_style(test::scratch_dir("style_json"), "ink");
  write_file_atomic(dir + "/style.json", R"({"lora": "prtkl.safetensors", "lora_scale": 0.5, "embeddings": "",
    "prompt": "ink drawing of {prompt}, <s0><s1>", "description": "brush and ink"})");
  const auto s = read_style(dir);
  EXPECT_EQ(s.lora_scale, 0.5);
  EXPECT_EQ(s.embeddings, "") << "\"\" means none";
  EXPECT_EQ(s.description, "brush and ink");
  EXPECT_EQ(s.wrap("a cat"), "ink drawing of a cat, <s0><s1>");

  write_file_atomic(dir + "/style.json", R"({"prompt": "<s0><s1> only"})");
  EXPECT_NE(test::error_of([&] { read_style(dir); }).find("style.json: field 'prompt' has no {prompt}"), std::string::npos);
  write_file_atomic(dir + "/style.json", R"({"lora": "missing.safetensors"})");
  EXPECT_NE(test::error_of([&] { read_style(dir); }).find("missing.safetensors not found"), std::string::npos);
}

// The model's own styles/ first, then the models folder's; a path works; "none" and "" are no style.
TEST(Style, ResolveByNameFolderPathOrNone) {
  const auto root = test::scratch_dir("style_resolve");
  const auto model = root + "/model";
  make_style(model + "/styles", "flat");
  make_style(root + "/models/styles", "flat", "lora_unet_peft");  // shadowed by the model's own
  make_style(root + "/models/styles", "mine");
  const auto elsewhere = make_style(root + "/elsewhere", "loose");
  ModelsFolder folder(root + "/models");

  EXPECT_EQ(resolve_style("flat", model)->dir, model + "/styles/flat");
  EXPECT_EQ(resolve_style("mine", model)->dir, root + "/models/styles/mine");
  EXPECT_EQ(resolve_style(elsewhere, model)->name, "loose");
  EXPECT_FALSE(resolve_style("none", model));
  EXPECT_FALSE(resolve_style("", model));
  EXPECT_EQ(test::error_of([&] { resolve_style("glossy", model); }), "unknown style 'glossy' (known: none, flat, mine)");
  // A model without styles/ (or a single file) sees the models folder's only.
  EXPECT_EQ(resolve_style("flat", root + "/nowhere")->dir, root + "/models/styles/flat");
}

TEST(Style, CatalogDefaultAndKnownNames) {
  const auto root = test::scratch_dir("style_catalog");
  make_style(root + "/model/styles", "flat");
  fs::create_directories(root + "/model/styles/broken");  // no files: skipped with a warning
  const auto loose = make_style(root + "/elsewhere", "loose");
  ModelsFolder folder(root + "/models");
  std::vector<std::string> warnings;
  const auto catalog = load_style_catalog(root + "/model", read_style(loose), warnings);
  EXPECT_EQ(catalog.names(), (std::vector<std::string>{"none", "flat", "loose"}));
  EXPECT_EQ(catalog.default_name, "loose");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("broken"), std::string::npos) << warnings[0];
  EXPECT_EQ(catalog.find("")->name, "loose");
  EXPECT_EQ(catalog.find("none"), nullptr);
  EXPECT_EQ(catalog.find("flat")->name, "flat");
  EXPECT_EQ(test::error_of([&] { catalog.find("glossy"); }), "unknown style 'glossy' (known: none, flat, loose)");
  EXPECT_EQ(load_style_catalog(root + "/model", std::nullopt, warnings).default_name, "none");
}

// Styles switched on one model: the weights and the text encoding of every step are exactly those of a model
// that never had the other style.
TEST(Style, SwitchLeavesNothingBehind) {
  const auto root = test::scratch_dir("style_switch");
  const auto a = read_style(make_style(root, "a", "lora_unet_kohya"));
  const auto b = read_style(make_style(root, "b", "lora_te_kohya"));
  auto model = load_model(test::fixture_path("tiny-sd15"));
  StyleSwitch styles(model);
  auto draw = [&](const std::string& prompt) {
    GenerateParams p;
    p.prompt = prompt;
    p.steps = 2;
    p.seed = 3;
    StableDiffusionPipeline pipe(model);
    return pipe.generate(pipe.resolve(p)).images;
  };
  const auto plain = draw("a cat");
  styles.use(&a);
  const auto with_a = draw(a.wrap("a cat"));
  styles.use(&b);
  const auto with_b = draw(b.wrap("a cat"));
  EXPECT_FALSE(torch::equal(with_a, with_b));
  styles.use(nullptr);
  EXPECT_TRUE(torch::equal(draw("a cat"), plain)) << "no style after b: the plain model";
  styles.use(&a);
  EXPECT_TRUE(torch::equal(draw(a.wrap("a cat")), with_a)) << "style a comes back exactly after b";
  styles.use(nullptr);
  auto fresh = load_model(test::fixture_path("tiny-sd15"));
  const auto unet = model.unet->named_parameters();
  for (const auto& item : fresh.unet->named_parameters())
    EXPECT_TRUE(torch::equal(unet[item.key()], item.value())) << item.key();
  const auto text_encoder = model.text_encoder->named_parameters();
  for (const auto& item : fresh.text_encoder->named_parameters())
    if (item.key().find("token_embedding") == std::string::npos)  // grown by the style's two tokens
      EXPECT_TRUE(torch::equal(text_encoder[item.key()], item.value())) << item.key();
}
