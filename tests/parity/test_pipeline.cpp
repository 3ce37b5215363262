// Full 4-step pipelines of both tiny models against diffusers, through the public API: model loading (both
// layouts), prompt encoding, the sampler loop with seeds, VAE decoding.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

struct Case {
  std::string model;
  bool sdxl;
};

class Pipeline : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    torch::set_num_threads(2);  // the fixtures were computed with 2 intra-op threads
    ref_ = std::make_unique<test::Reference>(GetParam().model);
    model_ = load_model(test::fixture_path(GetParam().model));
  }
  GenerateParams params(const std::string& tag) const {
    const auto& s = ref_->header().at("pipelines").at(tag);
    GenerateParams p;
    p.prompt = s.at("prompt").get<std::string>();
    p.negative_prompt = s.at("negative_prompt").get<std::string>();
    p.has_negative_prompt = true;
    p.steps = s.at("num_inference_steps").get<int64_t>();
    p.guidance_scale = s.at("guidance_scale").get<double>();
    p.height = s.at("height").get<int64_t>();
    p.width = s.at("width").get<int64_t>();
    p.sampler = s.at("scheduler").get<std::string>();
    if (s.contains("generator_seed")) p.seed = s.at("generator_seed").get<uint64_t>();
    if (ref_->contains("pipe." + tag + ".latents_in")) p.latents = ref_->get("pipe." + tag + ".latents_in");
    return p;
  }
  void run_and_compare(const std::string& tag) {
    StableDiffusionPipeline pipe(model_);
    std::vector<torch::Tensor> steps;
    auto result = pipe.generate(params(tag), [&](const StepEvent& e) { steps.push_back(e.latents.clone()); });
    EXPECT_MATCHES(*ref_, "pipe." + tag + ".step_latents", torch::stack(steps));
    EXPECT_MATCHES(*ref_, "pipe." + tag + ".latents_out", result.latents);
    EXPECT_MATCHES(*ref_, "pipe." + tag + ".image", result.images);
  }
  std::unique_ptr<test::Reference> ref_;
  StableDiffusionModel model_;
};

}  // namespace

TEST_P(Pipeline, EulerMatchesDiffusers) {
  const auto p = params("euler");
  StableDiffusionPipeline pipe(model_);
  EXPECT_MATCHES(*ref_, "pipe.euler.prompt_embeds", pipe.encode_prompt(p.prompt).prompt_embeds);
  EXPECT_MATCHES(*ref_, "pipe.euler.negative_prompt_embeds", pipe.encode_prompt(p.negative_prompt).prompt_embeds);
  if (GetParam().sdxl) {
    EXPECT_MATCHES(*ref_, "pipe.euler.pooled_prompt_embeds", pipe.encode_prompt(p.prompt).pooled_prompt_embeds);
    EXPECT_MATCHES(*ref_, "pipe.euler.negative_pooled_prompt_embeds",
                   pipe.encode_prompt(p.negative_prompt).pooled_prompt_embeds);
  }
  run_and_compare("euler");
  EXPECT_MATCHES(*ref_, "pipe.euler.decoded", pipe.decode_latents(ref_->get("pipe.euler.latents_out")));
}

TEST_P(Pipeline, SeededEulerAncestralMatchesDiffusersGenerator) { run_and_compare("euler_a_seed"); }
TEST_P(Pipeline, DpmppKarrasMatchesDiffusers) { run_and_compare("dpmpp_2m_karras"); }
TEST_P(Pipeline, DdimMatchesDiffusers) { run_and_compare("ddim"); }

TEST_P(Pipeline, SameSeedSameImage) {
  StableDiffusionPipeline pipe(model_);
  auto p = params("euler");
  p.latents = torch::Tensor();
  p.seed = 7;
  auto a = pipe.generate(p).images;
  auto b = pipe.generate(p).images;
  EXPECT_TRUE(torch::equal(a, b));
  p.seed = 8;
  EXPECT_FALSE(torch::equal(a, pipe.generate(p).images));
}

TEST_P(Pipeline, ReleasingStagesGivesTheSameImageAndFreesTheModules) {
  auto p = params("euler");
  auto kept = StableDiffusionPipeline(model_).generate(p);
  EXPECT_GT(kept.encode_seconds, 0);
  EXPECT_GT(kept.denoise_seconds, 0);
  EXPECT_GT(kept.decode_seconds, 0);
  auto one_shot = load_model(test::fixture_path(GetParam().model));
  p.release_stages = true;
  auto released = StableDiffusionPipeline(one_shot).generate(p);
  EXPECT_TRUE(torch::equal(kept.images, released.images));
  EXPECT_TRUE(one_shot.text_encoder.is_empty());
  EXPECT_TRUE(one_shot.text_encoder_2.is_empty());
  EXPECT_TRUE(one_shot.unet.is_empty());
  EXPECT_FALSE(one_shot.vae.is_empty());
  EXPECT_THROW(StableDiffusionPipeline(one_shot).encode_prompt("again"), Error);

  // As `prtkl generate` runs it: the UNet and the VAE read only when their stage starts.
  LoadOptions lo;
  lo.deferred = {Component::UNet, Component::Vae};
  auto staged = load_model(test::fixture_path(GetParam().model + ".safetensors"), lo);
  EXPECT_TRUE(staged.unet.is_empty());
  EXPECT_TRUE(staged.vae.is_empty());
  EXPECT_TRUE(staged.warnings.empty());
  auto late = StableDiffusionPipeline(staged).generate(p);
  EXPECT_TRUE(torch::equal(kept.images, late.images));
  EXPECT_GT(late.load_seconds, 0);
  EXPECT_TRUE(staged.unet.is_empty());
  EXPECT_FALSE(staged.vae.is_empty());
}

TEST_P(Pipeline, SingleFileAndFolderGiveIdenticalModules) {
  auto single = load_model(test::fixture_path(GetParam().model + ".safetensors"));
  EXPECT_EQ(single.format, "single-file");
  EXPECT_EQ(single.family, model_.family);
  auto compare = [](torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
    auto pa = a.named_parameters(true);
    auto pb = b.named_parameters(true);
    ASSERT_EQ(pa.size(), pb.size()) << what;
    for (const auto& item : pa) ASSERT_TRUE(torch::equal(item.value(), pb[item.key()])) << what << " " << item.key();
  };
  compare(*single.unet, *model_.unet, "unet");
  compare(*single.vae, *model_.vae, "vae");
  compare(*single.text_encoder, *model_.text_encoder, "text_encoder");
  if (GetParam().sdxl) compare(*single.text_encoder_2, *model_.text_encoder_2, "text_encoder_2");
}

TEST_P(Pipeline, LongPromptsAreChunkedNotCut) {
  StableDiffusionPipeline pipe(model_);
  const auto& strings = ref_->header().at("tokenizer_strings");
  const auto long_prompt = strings.at(8).get<std::string>();  // 164 tokens
  const auto e = pipe.encode_prompt(long_prompt).prompt_embeds;
  EXPECT_EQ(e.size(1), 3 * 77);
  auto p = params("euler");
  p.prompt = long_prompt;  // a 3-chunk prompt against a 1-chunk negative prompt still runs
  p.steps = 2;
  EXPECT_EQ(pipe.generate(p).images.size(0), 1);
}

TEST_P(Pipeline, RejectsBadParameters) {
  StableDiffusionPipeline pipe(model_);
  auto p = params("euler");
  p.width = 513;
  EXPECT_THROW(pipe.resolve(p), Error);
  p = params("euler");
  p.steps = -1;
  EXPECT_THROW(pipe.resolve(p), Error);
  p = params("euler");
  p.sampler = "nope";
  EXPECT_THROW(pipe.generate(p), Error);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Pipeline,
                         ::testing::Values(Case{"tiny-sd15", false}, Case{"tiny-sdxl", true}),
                         [](const auto& info) { return info.param.sdxl ? std::string("sdxl") : std::string("sd15"); });

namespace {

// A writable copy of tiny-sd15 whose UNet is stored only as a `.fp16.` variant, or as bf16.
std::string model_with_half_unet(torch::Dtype dtype, const std::string& file_name) {
  namespace fs = std::filesystem;
  const auto dir = test::scratch_dir("half") + "/tiny-sd15";
  fs::copy(test::fixture_path("tiny-sd15"), dir, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  const auto unet = dir + "/unet/diffusion_pytorch_model.safetensors";
  auto tensors = SafeTensors::open(unet).all();
  TensorMap half;
  for (const auto& [k, v] : tensors) half[k] = v.to(dtype);
  fs::remove(unet);
  save_safetensors(dir + "/unet/" + file_name, half, {{"format", "pt"}});
  return dir;
}

void expect_unet_equals_rounded(const StableDiffusionModel& m, torch::Dtype dtype) {
  auto reference = SafeTensors::open(test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
  for (const auto& p : m.unet->named_parameters(true)) {
    EXPECT_EQ(p.value().scalar_type(), torch::kFloat32);
    ASSERT_TRUE(torch::equal(p.value(), reference.get(p.key()).to(dtype).to(torch::kFloat32))) << p.key();
  }
}

}  // namespace

TEST(ModelLoading, Fp16VariantLoadsIntoFp32Modules) {
  const auto dir = model_with_half_unet(torch::kFloat16, "diffusion_pytorch_model.fp16.safetensors");
  LoadOptions options;
  options.variant = "fp16";
  expect_unet_equals_rounded(load_model(dir, options), torch::kFloat16);
  expect_unet_equals_rounded(load_model(dir), torch::kFloat16);  // the only weights there: used without asking
}

TEST(ModelLoading, Bf16WeightsOnDisk) {
  const auto dir = model_with_half_unet(torch::kBFloat16, "diffusion_pytorch_model.safetensors");
  expect_unet_equals_rounded(load_model(dir), torch::kBFloat16);
}

TEST(ModelLoading, Bf16ComputeRuns) {
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto m = load_model(test::fixture_path("tiny-sdxl"), options);
  StableDiffusionPipeline pipe(m);
  GenerateParams p;
  p.prompt = "a cat";
  p.steps = 2;
  auto out = pipe.generate(p);
  EXPECT_FALSE(out.images.isnan().any().item<bool>());
  EXPECT_EQ(out.images.scalar_type(), torch::kFloat32);
}

TEST(ModelLoading, UnsupportedFamilyIsAClearError) {
  const auto dir = test::scratch_dir("sd2");
  TensorMap t;
  t["model.diffusion_model.input_blocks.0.0.weight"] = torch::zeros({1});
  t["cond_stage_model.model.ln_final.weight"] = torch::zeros({1});
  save_safetensors(dir + "/sd2.safetensors", t);
  try {
    load_model(dir + "/sd2.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2.x"), std::string::npos) << e.what();
  }
}
