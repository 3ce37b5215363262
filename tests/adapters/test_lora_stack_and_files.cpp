// Two LoRAs applied together give exactly W + s1·B1A1·α1/r1 + s2·B2A2·α2/r2, computed here from the raw tensors;
// the files prtkl writes have the key names, dtypes, .alpha tensors and metadata of the reference files that
// diffusers and kohya's conversion wrote, so AUTOMATIC1111, ComfyUI and diffusers read them.
#include <gtest/gtest.h>

#include "adapters/lora_apply.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

std::string flat(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

class LoraFiles : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { torch::set_num_threads(1); }
  std::string adapter(const std::string& file) const { return test::fixture_path(GetParam() + "/adapters/" + file); }
};

// Every key, dtype and shape of `expected`, and nothing else, in `actual`; the same values except .alpha, which
// must be a 0-dim number of the same value (kohya's own scripts write it as a float, diffusers' conversion as
// an int64: readers take either).
void expect_same_layout(const std::string& actual_path, const std::string& expected_path) {
  const auto actual = SafeTensors::open(actual_path), expected = SafeTensors::open(expected_path);
  std::set<std::string> a(actual.names().begin(), actual.names().end());
  std::set<std::string> e(expected.names().begin(), expected.names().end());
  for (const auto& k : e) EXPECT_TRUE(a.count(k)) << "missing key " << k;
  for (const auto& k : a) EXPECT_TRUE(e.count(k)) << "unexpected key " << k;
  for (const auto& k : e) {
    if (!a.count(k)) continue;
    const bool alpha = k.size() > 6 && k.compare(k.size() - 6, 6, ".alpha") == 0;
    EXPECT_EQ(actual.info(k).shape, expected.info(k).shape) << k;
    if (alpha) {
      EXPECT_DOUBLE_EQ(actual.get(k).item<double>(), expected.get(k).item<double>()) << k;
    } else {
      EXPECT_EQ(actual.info(k).dtype, expected.info(k).dtype) << k;
      EXPECT_TRUE(torch::equal(actual.get(k), expected.get(k))) << k;
    }
  }
  const auto format = expected.metadata().find("format");
  if (format != expected.metadata().end()) {
    ASSERT_TRUE(actual.metadata().count("format")) << "safetensors metadata \"format\" (transformers requires it)";
    EXPECT_EQ(actual.metadata().at("format"), format->second);
  }
}

}  // namespace

TEST_P(LoraFiles, WritersMatchTheReferenceFiles) {
  auto model = load_model(test::fixture_path(GetParam()));
  LoraApplier applier(model);
  const auto lf = applier.read(adapter("lora_te_peft.safetensors"));
  const auto dir = test::scratch_dir("writers");
  write_lora_kohya(dir + "/k.safetensors", lf.pairs, {});
  write_lora_peft(dir + "/p.safetensors", lf.pairs, {});
  {
    SCOPED_TRACE("kohya");
    expect_same_layout(dir + "/k.safetensors", adapter("lora_te_kohya.safetensors"));
  }
  {
    SCOPED_TRACE("peft");
    expect_same_layout(dir + "/p.safetensors", adapter("lora_te_peft.safetensors"));
  }
}

// A LoRA with alpha != rank written with PEFT keys: read as diffusers 0.29 and ComfyUI read that format (B @ A,
// alpha = rank, metadata ignored) it is the same update; the kohya file says it through .alpha.
TEST_P(LoraFiles, AlphaSurvivesInFormatsWithoutAnAlphaField) {
  auto model = load_model(test::fixture_path(GetParam()));
  LoraApplier applier(model);
  const auto lf = applier.read(adapter("lora_unet_kohya_alpha2.safetensors"));  // alpha 2, rank 4
  const auto dir = test::scratch_dir("alpha");
  write_lora_peft(dir + "/p.safetensors", lf.pairs, {});
  const auto st = SafeTensors::open(dir + "/p.safetensors");
  for (const auto& [module, pair] : lf.pairs) {
    ASSERT_EQ(pair.alpha_over_rank(), 0.5) << module;
    const auto as_diffusers_reads = torch::matmul(st.get(module + ".lora_B.weight"), st.get(module + ".lora_A.weight"));
    EXPECT_LT((as_diffusers_reads - pair.delta()).abs().max().item<double>(), 1e-7) << module;
  }
  // prtkl reads it back to the same update.
  const auto back = applier.read(dir + "/p.safetensors");
  for (const auto& [module, pair] : lf.pairs)
    EXPECT_LT((back.pairs.at(module).delta() - pair.delta()).abs().max().item<double>(), 1e-7) << module;
}

TEST_P(LoraFiles, StackedLorasAddTheirScaledProducts) {
  auto model = load_model(test::fixture_path(GetParam()));
  std::map<std::string, torch::Tensor> base;
  for (const auto& p : model.unet->named_parameters(true)) base[p.key()] = p.value().clone();

  // LoRA 1: the fixture (rank 4, alpha 4). LoRA 2: rank 2, alpha 1, random, on every other module of LoRA 1,
  // written here with kohya keys.
  const auto one = SafeTensors::open(adapter("lora_unet_peft.safetensors"));
  std::vector<std::string> modules;
  for (const auto& k : one.names())
    if (k.size() > 14 && k.compare(k.size() - 14, 14, ".lora_A.weight") == 0) modules.push_back(k.substr(5, k.size() - 19));
  ASSERT_GT(modules.size(), 10u);
  torch::manual_seed(5);
  TensorMap two;
  for (size_t i = 0; i < modules.size(); i += 2) {
    const auto& w = base.at(modules[i] + ".weight");
    const auto key = "lora_unet_" + flat(modules[i]);
    two[key + ".lora_down.weight"] = torch::randn({2, w.size(1)}) * 0.3;
    two[key + ".lora_up.weight"] = torch::randn({w.size(0), 2}) * 0.1;
    two[key + ".alpha"] = torch::tensor(1.0f);
  }
  const auto dir = test::scratch_dir("stack");
  save_safetensors(dir + "/two.safetensors", two);

  LoraApplier applier(model);
  applier.apply({{applier.read(adapter("lora_unet_peft.safetensors")), 1.0}, {applier.read(dir + "/two.safetensors"), 0.3}});
  auto params = model.unet->named_parameters(true);
  auto merged = load_model(test::fixture_path(GetParam()));  // the same weights, merged here
  auto merged_params = merged.unet->named_parameters(true);
  std::set<std::string> targets;
  for (size_t i = 0; i < modules.size(); ++i) {
    const auto& m = modules[i];
    auto expected = base.at(m + ".weight") + 1.0 * torch::matmul(one.get("unet." + m + ".lora_B.weight"),
                                                                 one.get("unet." + m + ".lora_A.weight")) * (4.0 / 4.0);
    if (i % 2 == 0) {
      const auto key = "lora_unet_" + flat(m);
      expected = expected + 0.3 * torch::matmul(two[key + ".lora_up.weight"], two[key + ".lora_down.weight"]) * (1.0 / 2.0);
    }
    EXPECT_LT((params[m + ".weight"] - expected).abs().max().item<double>(), 1e-6) << m;
    torch::NoGradGuard no_grad;
    merged_params[m + ".weight"].copy_(expected);
    targets.insert(m + ".weight");
  }
  for (const auto& p : model.unet->named_parameters(true))  // nothing else moved
    if (!targets.count(p.key())) EXPECT_TRUE(torch::equal(p.value(), base.at(p.key()))) << p.key();

  GenerateParams g;
  g.prompt = "a ring made of particles";
  g.steps = 2;
  g.seed = 4;
  const auto image = StableDiffusionPipeline(model).generate(g).images;
  const auto expected = StableDiffusionPipeline(merged).generate(g).images;
  EXPECT_LT((image - expected).abs().max().item<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LoraFiles, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });
