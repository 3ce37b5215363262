// The single-file checkpoints people actually have, made from the tiny SD 1.5 fixture the way the variants differ:
// text-encoder keys without the `text_model.` level, EMA and non-EMA weights in one file, fp16/bf16 tensors, and
// no VAE at all (then --vae supplies one, in either naming). Each must load to the modules the folder loads to.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/safetensors.h"
#include "diffusion/model_loader.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

const std::string kTextEncoder = "cond_stage_model.transformer.";
const std::string kVae = "first_stage_model.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TensorMap fixture_file() { return SafeTensors::open(test::fixture_path("tiny-sd15.safetensors")).all(); }

// Writes `tensors` as a checkpoint in a fresh folder and loads it with the fixture folder's configs.
StableDiffusionModel load_variant(const std::string& name, const TensorMap& tensors, LoadOptions options = {}) {
  const auto path = test::scratch_dir("single_file_" + name) + "/" + name + ".safetensors";
  save_safetensors(path, tensors);
  options.config_dir = test::fixture_path("tiny-sd15");
  return load_model(path, options);
}

StableDiffusionModel& folder() {
  static auto model = load_model(test::fixture_path("tiny-sd15"));
  return model;
}

// Every parameter of `a` equals `b`'s, after `b`'s went through `dtype` (the rounding a half-precision file has).
void expect_same(torch::nn::Module& a, torch::nn::Module& b, const std::string& what,
                 torch::Dtype dtype = torch::kFloat32) {
  auto pa = a.named_parameters(true);
  auto pb = b.named_parameters(true);
  ASSERT_EQ(pa.size(), pb.size()) << what;
  for (const auto& item : pa) {
    const auto want = pb[item.key()].to(dtype).to(torch::kFloat32);
    ASSERT_EQ(item.value().scalar_type(), torch::kFloat32) << what << " " << item.key();
    ASSERT_TRUE(torch::equal(item.value(), want)) << what << " " << item.key();
  }
}

void expect_same_model(StableDiffusionModel& m, torch::Dtype dtype = torch::kFloat32) {
  expect_same(*m.unet, *folder().unet, "unet", dtype);
  expect_same(*m.vae, *folder().vae, "vae", dtype);
  expect_same(*m.text_encoder, *folder().text_encoder, "text_encoder", dtype);
}

}  // namespace

// Older SD 1.x files store the transformers CLIP without its `text_model.` level.
TEST(SingleFileVariants, TextEncoderWithoutTextModelLevel) {
  TensorMap renamed;
  size_t moved = 0;
  for (auto& [k, t] : fixture_file()) {
    const auto level = kTextEncoder + "text_model.";
    if (starts_with(k, level)) ++moved, renamed[kTextEncoder + k.substr(level.size())] = t;
    else renamed[k] = t;
  }
  ASSERT_GT(moved, 10u);
  auto m = load_variant("no_text_model", renamed);
  EXPECT_TRUE(m.warnings.empty()) << m.warnings.front();
  expect_same_model(m);
}

// A full training checkpoint (v1-5-pruned.safetensors) holds the EMA weights under `model_ema.` with the dots
// removed, beside the non-EMA ones; like diffusers and A1111, prtkl draws with `model.diffusion_model.`.
TEST(SingleFileVariants, EmaAndNonEmaWeightsInOneFile) {
  auto tensors = fixture_file();
  TensorMap ema;
  for (const auto& [k, t] : tensors)
    if (starts_with(k, "model.diffusion_model.")) {
      std::string flat = k.substr(6);
      flat.erase(std::remove(flat.begin(), flat.end(), '.'), flat.end());
      ema["model_ema." + flat] = t + 1.0;
    }
  ASSERT_GT(ema.size(), 10u);
  tensors.insert(ema.begin(), ema.end());
  tensors["model_ema.decay"] = torch::tensor(0.9999);
  tensors["model_ema.num_updates"] = torch::tensor(1000, torch::kInt32);
  auto m = load_variant("ema", tensors);
  EXPECT_TRUE(m.warnings.empty()) << m.warnings.front();
  expect_same_model(m);
}

// Community files are mostly fp16 (sometimes bf16); the modules are fp32 unless --dtype says otherwise.
TEST(SingleFileVariants, HalfPrecisionTensors) {
  for (const auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    auto tensors = fixture_file();
    for (auto& [k, t] : tensors)
      if (t.is_floating_point()) t = t.to(dtype);
    auto m = load_variant(dtype == torch::kFloat16 ? "fp16" : "bf16", tensors);
    expect_same_model(m, dtype);
  }
}

// Each component is built in its final dtype and read straight from the file into it: a bf16 model with an fp32
// VAE (what training asks for) has the file's fp32 VAE weights exactly, not weights that went through bf16.
TEST(SingleFileVariants, ComponentsAreReadStraightIntoTheirDtype) {
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  options.vae_dtype = torch::kFloat32;
  auto m = load_variant("bf16_fp32_vae", fixture_file(), options);
  for (auto* module : {static_cast<torch::nn::Module*>(m.unet.get()), static_cast<torch::nn::Module*>(m.text_encoder.get())})
    for (const auto& p : module->named_parameters())
      ASSERT_EQ(p.value().scalar_type(), torch::kBFloat16) << p.key();
  expect_same(*m.vae, *folder().vae, "vae");
}

// A file saved without its VAE says so and names --vae; a VAE file then comes in any of the namings people have:
// original names with or without `first_stage_model.`, diffusers names, a diffusers vae/ folder.
TEST(SingleFileVariants, WithoutAVaeTheVaeComesFromItsOwnFile) {
  TensorMap without, ldm_vae, prefixed_vae;
  for (const auto& [k, t] : fixture_file()) {
    if (!starts_with(k, kVae)) {
      without[k] = t;
      continue;
    }
    ldm_vae[k.substr(kVae.size())] = t;
    prefixed_vae[k] = t;
  }
  try {
    load_variant("no_vae", without);
    FAIL() << "a checkpoint without a VAE loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved without its VAE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--vae FILE"), std::string::npos) << e.what();
  }
  const auto dir = test::scratch_dir("single_file_vae_files");
  save_safetensors(dir + "/ldm.safetensors", ldm_vae);
  save_safetensors(dir + "/prefixed.safetensors", prefixed_vae);
  for (const auto& vae : {dir + "/ldm.safetensors", dir + "/prefixed.safetensors",
                          test::fixture_path("tiny-sd15/vae/diffusion_pytorch_model.safetensors"),
                          test::fixture_path("tiny-sd15/vae")}) {
    LoadOptions options;
    options.vae_path = vae;
    auto m = load_variant("no_vae", without, options);
    SCOPED_TRACE(vae);
    expect_same_model(m);
  }
  LoadOptions junk;
  junk.vae_path = test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors");
  try {
    load_variant("no_vae", without, junk);
    FAIL() << "a UNet loaded as a VAE";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a VAE"), std::string::npos) << e.what();
  }
}

// --vae replaces the VAE a model has, in a folder as in a file.
TEST(SingleFileVariants, VaeFileReplacesTheModelsOwn) {
  auto vae = SafeTensors::open(test::fixture_path("tiny-sd15/vae/diffusion_pytorch_model.safetensors")).all();
  for (auto& [k, t] : vae) t = t * 0.5;
  const auto path = test::scratch_dir("single_file_other_vae") + "/half.safetensors";
  save_safetensors(path, vae);
  LoadOptions options;
  options.vae_path = path;
  for (const auto& model : {test::fixture_path("tiny-sd15"), test::fixture_path("tiny-sd15.safetensors")}) {
    auto m = load_model(model, options);
    for (const auto& p : m.vae->named_parameters(true))
      ASSERT_TRUE(torch::equal(p.value(), vae.at(p.key()))) << model << " " << p.key();
    expect_same(*m.unet, *folder().unet, "unet");
  }
}
