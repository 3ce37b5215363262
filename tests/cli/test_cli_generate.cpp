// `prtkl generate` and `prtkl info` as a user runs them, including the bad input that must end in a one-line
// error and exit code 2, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>

#include "core/file_util.h"
#include "core/image.h"
#include "core/safetensors.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// A writable copy of a fixture model folder.
std::string copy_model(const std::string& model, const std::string& name) {
  const auto dir = test::scratch_dir(name) + "/" + model;
  fs::copy(test::fixture_path(model), dir, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  fs::permissions(dir, fs::perms::owner_write, fs::perm_options::add);
  return dir;
}

void expect_input_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  const auto last = r.output.substr(r.output.rfind("prtkl: error:") == std::string::npos ? 0 : r.output.rfind("prtkl: error:"));
  EXPECT_EQ(last.rfind("prtkl: error:", 0), 0u) << r.output;
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << "one line: " << last;
  EXPECT_NE(last.find(needle), std::string::npos) << "expected '" << needle << "' in: " << last;
}

const std::string kUnetFile = "/unet/diffusion_pytorch_model.safetensors";

}  // namespace

TEST(CliGenerate, WritesPngWithA1111Parameters) {
  const auto out = test::scratch_dir("gen") + "/hug.png";
  auto r = test::run_prtkl("generate --model " + test::fixture_path("tiny-sd15") +
                     " --prompt 'two people hugging' --negative blurry --steps 3 --cfg 5 --seed 42 --sampler euler_a"
                     " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto image = read_image(out);
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);
  const auto text = read_png_text(out);
  ASSERT_TRUE(text.count("parameters")) << "no parameters chunk";
  EXPECT_EQ(text.at("parameters"),
            "two people hugging\nNegative prompt: blurry\n"
            "Steps: 3, Sampler: Euler a, CFG scale: 5, Seed: 42, Size: 64x64, Model: tiny-sd15, Version: prtkl");
}

// Without --model the bundled model draws (models/prtkl-emoji, found beside the build folder): the whole path a new
// user gets, offline, at its native 64x64, with the model's own sampling (prtkl.json: 4 LCM steps at CFG 2).
TEST(CliGenerate, WithoutAModelTheBundledModelDraws) {
  const auto out = test::scratch_dir("gen_bundled") + "/hug.png";
  auto r = test::run_prtkl("generate --prompt 'people hugging' --seed 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto image = read_image(out);
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);
  const auto parameters = read_png_text(out).at("parameters");
  EXPECT_NE(parameters.find("Model: prtkl-emoji"), std::string::npos);
  EXPECT_NE(parameters.find("Steps: 4, Sampler: LCM, CFG scale: 2,"), std::string::npos) << parameters;
  // A flag given wins over the model's own.
  r = test::run_prtkl("generate --prompt 'people hugging' --seed 1 --steps 3 --sampler euler --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_png_text(out).at("parameters").find("Steps: 3, Sampler: Euler, CFG scale: 2,"), std::string::npos);
  // Not a flat or empty picture: pixels vary.
  int lo = 255, hi = 0;
  for (auto v : image.pixels) lo = std::min<int>(lo, v), hi = std::max<int>(hi, v);
  EXPECT_GT(hi - lo, 64);
}

// A model whose prtkl.json names a sampling adapter (an LCM-LoRA, `prtkl train --distill lcm`) draws with it at
// its own sampler, exactly as the same LoRA given by hand, and without it at any other sampler.
TEST(CliGenerate, TheModelsSamplingAdapterComesWithItsSamplerOnly) {
  namespace fs = std::filesystem;
  const auto dir = test::scratch_dir("gen_sampling_lora");
  const auto model = dir + "/model";
  fs::create_directories(model);
  for (const auto& e : fs::directory_iterator(test::fixture_path("tiny-sd15")))
    fs::create_symlink(e.path(), model + "/" + e.path().filename().string());
  fs::copy_file(test::fixture_path("tiny-sd15/adapters/lora_unet_peft.safetensors"), model + "/lcm.safetensors");
  write_file_atomic(model + "/prtkl.json",
                    R"({"template": "{scene}", "sampling": {"sampler": "lcm", "steps": 2, "cfg": 1, "lora": "lcm.safetensors"}})");
  const auto plain = test::fixture_path("tiny-sd15");
  const auto draw = [&](const std::string& args, const std::string& name) {  // the pixels (PNG text names the model)
    const auto r = test::run_prtkl("generate --prompt cat --seed 3 --out " + dir + "/" + name + " " + args);
    EXPECT_EQ(r.code, 0) << r.output;
    return read_image(dir + "/" + name).pixels;
  };
  const auto lcm = " --sampler lcm --steps 2 --cfg 1";
  const auto by_hand = draw("--model " + plain + lcm + " --lora " + model + "/lcm.safetensors", "by_hand.png");
  EXPECT_EQ(draw("--model " + model, "own.png"), by_hand);
  EXPECT_NE(draw("--model " + plain + lcm, "without.png"), by_hand);  // the adapter matters here
  EXPECT_EQ(draw("--model " + model + " --sampler euler", "euler.png"),
            draw("--model " + plain + " --sampler euler --steps 2 --cfg 1", "euler_plain.png"));
}

TEST(CliGenerate, SdxlSingleFileAndNonSquareSize) {
  const auto out = test::scratch_dir("gen") + "/x.png";
  auto r = test::run_prtkl("generate --model " + test::fixture_path("tiny-sdxl.safetensors") +
                     " --prompt 'a bird' --steps 2 --width 64 --height 32 --seed 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto image = read_image(out);
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 32);
  EXPECT_NE(read_png_text(out).at("parameters").find("Size: 64x32, Model: tiny-sdxl"), std::string::npos);
}

TEST(CliGenerate, SameSeedSameBytes) {
  const auto dir = test::scratch_dir("seed");
  const auto base = "generate --model " + test::fixture_path("tiny-sd15") + " --prompt cat --steps 2 --seed 5 --out ";
  ASSERT_EQ(test::run_prtkl(base + dir + "/a.png").code, 0);
  ASSERT_EQ(test::run_prtkl(base + dir + "/b.png").code, 0);
  EXPECT_EQ(read_file(dir + "/a.png"), read_file(dir + "/b.png"));
}

TEST(CliInfo, DescribesBothLayouts) {
  auto r = test::run_prtkl("info " + test::fixture_path("tiny-sdxl"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("SDXL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("diffusers"), std::string::npos);
  EXPECT_NE(r.output.find("376292"), std::string::npos) << "unet parameter count: " << r.output;
  EXPECT_NE(r.output.find("CLIPTextModelWithProjection"), std::string::npos);
  r = test::run_prtkl("info --json " + test::fixture_path("tiny-sd15.safetensors"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = Json::parse(r.output);
  EXPECT_EQ(j.at("family"), "sd15");
  EXPECT_EQ(j.at("format"), "single-file");
  EXPECT_EQ(j.at("components").at("unet").at("parameters"), 283284);
  EXPECT_EQ(j.at("components").at("vae").at("parameters"), 111839);
  EXPECT_EQ(j.at("components").at("text_encoder").at("parameters"), 45354);
  EXPECT_TRUE(j.at("components").at("unet").at("dtypes").contains("F32"));
}

TEST(CliBadInput, TruncatedWeights) {
  const auto dir = copy_model("tiny-sd15", "trunc");
  fs::resize_file(dir + kUnetFile, fs::file_size(dir + kUnetFile) / 2);
  expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt x"), "outside the data");
}

TEST(CliBadInput, HeaderLengthBeyondFile) {
  const auto dir = copy_model("tiny-sd15", "hlen");
  fs::resize_file(dir + kUnetFile, 200);
  expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt x"), "past the end of the file");
}

TEST(CliBadInput, UnknownDtype) {
  const auto dir = copy_model("tiny-sd15", "dtype");
  auto bytes = read_file(dir + kUnetFile);
  bytes.replace(bytes.find("\"F32\""), 5, "\"F31\"");
  write_file_atomic(dir + kUnetFile, bytes);
  expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt x"), "unknown dtype 'F31'");
}

TEST(CliBadInput, ConfigContradictsWeights) {
  const auto dir = copy_model("tiny-sd15", "config");
  auto cfg = read_json_file(dir + "/unet/config.json");
  cfg["cross_attention_dim"] = 48;
  write_file_atomic(dir + "/unet/config.json", cfg.dump());
  expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt x"), "config");
}

TEST(CliBadInput, CorruptSingleFileHeader) {
  const auto dir = test::scratch_dir("single");
  auto bytes = read_file(test::fixture_path("tiny-sd15.safetensors"));
  bytes[8] = '#';  // the header's opening brace
  write_file_atomic(dir + "/m.safetensors", bytes);
  expect_input_error(test::run_prtkl("info " + dir + "/m.safetensors"), "not valid JSON");
}

TEST(CliBadInput, BadSizeAndSteps) {
  const auto model = test::fixture_path("tiny-sd15");
  expect_input_error(test::run_prtkl("generate --model " + model + " --prompt x --width 513"), "width 513");
  expect_input_error(test::run_prtkl("generate --model " + model + " --prompt x --steps -3"), "steps");
  expect_input_error(test::run_prtkl("generate --model " + model + " --prompt x --sampler nope"), "nope");
  expect_input_error(test::run_prtkl("generate --model " + model + " --prompt x --dtype fp8"), "fp8");
}

TEST(CliBadInput, EmptyOrMissingModel) {
  const auto empty = test::scratch_dir("empty");
  expect_input_error(test::run_prtkl("generate --model " + empty + " --prompt x"), "model_index.json");
  expect_input_error(test::run_prtkl("info " + empty + "/nothing"), "no such file");
  const auto dir = copy_model("tiny-sd15", "nounet");
  fs::remove(dir + kUnetFile);
  expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt x"), "no safetensors weights");
}

TEST(CliGenerate, LoraAndEmbeddingsFlags) {
  const auto dir = test::scratch_dir("adapters");
  const auto adapters = test::fixture_path("tiny-sdxl/adapters/");
  const auto base = "generate --model " + test::fixture_path("tiny-sdxl") +
                    " --prompt 'a photo of <s0><s1>, two people hugging' --steps 2 --seed 3 --embeddings " + adapters +
                    "prtkl_emb.safetensors --out ";
  auto plain = test::run_prtkl(base + dir + "/plain.png");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_NE(plain.output.find("<s0><s1>"), std::string::npos);
  auto with = test::run_prtkl(base + dir + "/lora.png --lora " + adapters + "lora_te_kohya.safetensors:0.8");
  ASSERT_EQ(with.code, 0) << with.output;
  EXPECT_NE(read_image(dir + "/plain.png").pixels, read_image(dir + "/lora.png").pixels);
  // A LoRA key that matches nothing is reported, not ignored.
  TensorMap t;
  t["lora_unet_nowhere_to_q.lora_down.weight"] = torch::zeros({4, 16});
  t["lora_unet_nowhere_to_q.lora_up.weight"] = torch::zeros({16, 4});
  save_safetensors(dir + "/odd.safetensors", t);
  auto odd = test::run_prtkl(base + dir + "/odd.png --lora " + dir + "/odd.safetensors");
  ASSERT_EQ(odd.code, 0) << odd.output;
  EXPECT_NE(odd.output.find("match no module"), std::string::npos) << odd.output;
  expect_input_error(test::run_prtkl(base + dir + "/x.png --lora " + dir + "/missing.safetensors"), "cannot open");
}

// A NaN in any part's weights ends the run with one line naming the stage that made it, and no PNG: never a
// black or noise picture with exit code 0.
TEST(CliGenerate, NonFiniteNumbersNameTheirStage) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"/text_encoder/model.safetensors", "text_model.final_layer_norm.weight", "text encoder"},
      {kUnetFile, "conv_out.bias", "UNet produced non-finite values (NaN or inf) at step 1 of 2"},
      {"/vae/diffusion_pytorch_model.safetensors", "decoder.conv_out.bias", "VAE decoded non-finite"}};
  for (const auto& [file, tensor, stage] : cases) {
    SCOPED_TRACE(stage);
    const auto dir = copy_model("tiny-sd15", "nan_" + tensor);
    auto tensors = SafeTensors::open(dir + file).all();
    ASSERT_TRUE(tensors.count(tensor));
    auto poisoned = tensors.at(tensor).clone();
    poisoned.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
    tensors[tensor] = poisoned;
    save_safetensors(dir + file, tensors);
    const auto out = fs::path(dir).parent_path().string() + "/out.png";
    expect_input_error(test::run_prtkl("generate --model " + dir + " --prompt 'a cat' --steps 2 --out " + out), stage);
    EXPECT_FALSE(fs::exists(out));
  }
}

// A pickle checkpoint is refused in one line that says why and what to do, before anything reads it.
TEST(CliGenerate, PickleCheckpointsAreRefused) {
  const auto dir = test::scratch_dir("pickle");
  write_file_atomic(dir + "/model.ckpt", std::string("PK\x03\x04 not really a zip"));
  const auto out = dir + "/out.png";
  expect_input_error(test::run_prtkl("generate --model " + dir + "/model.ckpt --prompt x --out " + out),
                     "a pickle checkpoint can run code");
  EXPECT_FALSE(fs::exists(out));
}
