// `merge_models`: every parameter of the output is the weighted sum of the inputs', for folders and single files;
// models that differ in architecture or in a config field, and weights that do not sum to 1, fail before anything
// is written.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/model_merge.h"
#include "diffusion/model_save.h"
#include "support/fixtures.h"

namespace fs = std::filesystem;
using namespace prtkl;

namespace {

// The tiny fixture with every parameter moved by seeded noise: a second model of the same architecture.
std::string perturbed_copy(const std::string& fixture, const std::string& dir) {
  torch::NoGradGuard no_grad;
  auto model = load_model(test::fixture_path(fixture));
  torch::manual_seed(7);
  for (torch::nn::Module* m :
       {static_cast<torch::nn::Module*>(model.unet.get()), static_cast<torch::nn::Module*>(model.vae.get()),
        static_cast<torch::nn::Module*>(model.text_encoder.get())})
    for (auto& p : m->parameters(true)) p.add_(torch::randn_like(p));
  save_diffusers_model(model, dir, {});
  return dir;
}

void expect_weighted_sum(StableDiffusionModel& out, StableDiffusionModel& a, StableDiffusionModel& b, double wa) {
  auto pairs = std::vector<std::array<torch::nn::Module*, 3>>{
      {out.unet.get(), a.unet.get(), b.unet.get()},
      {out.vae.get(), a.vae.get(), b.vae.get()},
      {out.text_encoder.get(), a.text_encoder.get(), b.text_encoder.get()}};
  size_t n = 0;
  for (auto& [o, x, y] : pairs) {
    auto xs = x->named_parameters(true), ys = y->named_parameters(true);
    for (const auto& p : o->named_parameters(true)) {
      const auto expected = wa * xs[p.key()] + (1 - wa) * ys[p.key()];
      ASSERT_TRUE(torch::allclose(p.value(), expected, 1e-5, 1e-6)) << p.key();
      ++n;
    }
  }
  EXPECT_GT(n, 100u);
}

}  // namespace

TEST(ModelMerge, FolderIsTheWeightedSumAndLoads) {
  const auto dir = test::scratch_dir("merge");
  const auto b_dir = perturbed_copy("tiny-sd15", dir + "/b");
  MergeOptions o;
  o.models = {test::fixture_path("tiny-sd15"), b_dir};
  o.weights = {0.25, 0.75};
  o.out = dir + "/out";
  merge_models(o);
  auto out = load_model(o.out);
  auto a = load_model(o.models[0]);
  auto b = load_model(b_dir);
  expect_weighted_sum(out, a, b, 0.25);
  // Configs and tokenizer come from the first model; the stored dtype is its UNet's (the fixture's is fp32).
  EXPECT_EQ(read_file(o.out + "/unet/config.json"), read_file(test::fixture_path("tiny-sd15/unet/config.json")));
  EXPECT_TRUE(fs::exists(o.out + "/tokenizer/vocab.json"));
  auto st = SafeTensors::open(o.out + "/unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(st.info(st.names().front()).dtype, "F32");
}

TEST(ModelMerge, SingleFileOutputWithEqualWeightsAndADtype) {
  const auto dir = test::scratch_dir("merge_file");
  const auto b_dir = perturbed_copy("tiny-sdxl", dir + "/b");
  MergeOptions o;
  o.models = {test::fixture_path("tiny-sdxl"), b_dir};  // no weights: equal
  o.out = dir + "/out.safetensors";
  o.dtype = torch::kFloat16;
  merge_models(o);
  auto st = SafeTensors::open(o.out);
  for (const auto& n : st.names()) ASSERT_EQ(st.info(n).dtype, "F16") << n;
  LoadOptions options;
  options.config_dir = test::fixture_path("tiny-sdxl");
  auto out = load_model(o.out, options);
  auto a = load_model(o.models[0]);
  auto b = load_model(b_dir);
  // The SDXL second text encoder is merged too.
  auto xs = a.text_encoder_2->named_parameters(true), ys = b.text_encoder_2->named_parameters(true);
  for (const auto& p : out.text_encoder_2->named_parameters(true)) {
    const auto expected = (0.5 * xs[p.key()] + 0.5 * ys[p.key()]).to(torch::kHalf).to(torch::kFloat);
    ASSERT_TRUE(torch::equal(p.value(), expected)) << p.key();
  }
}

TEST(ModelMerge, RefusesWhatIsNotOneArchitectureAndWritesNothing) {
  const auto dir = test::scratch_dir("merge_bad");
  auto expect_refused = [&](MergeOptions o, const std::string& message) {
    o.out = dir + "/out";
    try {
      merge_models(o);
      ADD_FAILURE() << "merged: " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(o.out)) << message;
    EXPECT_FALSE(fs::exists(o.out + ".tmp")) << message;
  };
  const auto sd15 = test::fixture_path("tiny-sd15");
  expect_refused({{sd15, test::fixture_path("tiny-sdxl")}}, "is sdxl");
  expect_refused({{sd15, sd15}, {0.5, 0.6}}, "sum to 1.1");
  expect_refused({{sd15, sd15}, {1.0}}, "1 weights for 2 models");
  expect_refused({{sd15}}, "at least two models");
  // Same shapes, but a VAE config field that changes what the weights mean.
  const auto other = dir + "/scaled";
  fs::copy(sd15, other, fs::copy_options::recursive);
  auto vae = read_json_file(other + "/vae/config.json");
  vae["scaling_factor"] = 0.5;
  write_file_atomic(other + "/vae/config.json", vae.dump(2));
  expect_refused({{sd15, other}}, "'scaling_factor'");
  // An existing output is never overwritten.
  fs::create_directories(dir + "/taken");
  write_file_atomic(dir + "/taken/keep.txt", "mine");
  MergeOptions o{{sd15, sd15}};
  o.out = dir + "/taken";
  EXPECT_THROW(merge_models(o), Error);
  EXPECT_EQ(read_file(dir + "/taken/keep.txt"), "mine");
}
