// LoRA files in every fixture format, merged into the tiny models, against diffusers' outputs; switching and
// removing LoRAs restores the base weights exactly; writing and reading back round-trips.
#include <gtest/gtest.h>

#include "adapters/adapter_setup.h"
#include "adapters/lora_apply.h"
#include "core/error.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

struct Case {
  std::string model;
  bool sdxl;
};

class Lora : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    torch::set_num_threads(2);
    ref_ = std::make_unique<test::Reference>(GetParam().model);
    model_ = load_model(test::fixture_path(GetParam().model));
    applier_ = std::make_unique<LoraApplier>(model_);
  }
  std::string adapter(const std::string& file) const {
    return test::fixture_path(GetParam().model + "/adapters/" + file);
  }
  torch::Tensor unet_call(int k) {
    const std::string p = "unet.call" + std::to_string(k) + ".";
    torch::NoGradGuard no_grad;
    torch::Tensor text_embeds, time_ids;
    if (GetParam().sdxl) {
      text_embeds = ref_->get(p + "text_embeds");
      time_ids = ref_->get(p + "time_ids");
    }
    return model_.unet->forward(ref_->get(p + "sample"), ref_->get(p + "timestep"),
                                ref_->get(p + "encoder_hidden_states"), text_embeds, time_ids);
  }
  void expect_unet(const std::string& tag) {
    EXPECT_MATCHES(*ref_, tag + ".call1.out", unet_call(1));
    EXPECT_MATCHES(*ref_, tag + ".call2.out", unet_call(2));
  }
  std::unique_ptr<test::Reference> ref_;
  StableDiffusionModel model_;
  std::unique_ptr<LoraApplier> applier_;
};

}  // namespace

TEST_P(Lora, EveryUnetFormatMatchesDiffusers) {
  for (const std::string file : {"lora_unet_peft.safetensors", "lora_unet_diffusers.safetensors",
                                 "lora_unet_kohya.safetensors", "lora_te_peft.safetensors",
                                 "lora_te_diffusers.safetensors", "lora_te_kohya.safetensors"}) {
    SCOPED_TRACE(file);
    auto lf = applier_->read(adapter(file));
    EXPECT_TRUE(lf.unmatched.empty()) << lf.unmatched.front();
    for (auto it = lf.pairs.begin(); it != lf.pairs.end();)
      it = it->first.rfind("unet.", 0) == 0 ? std::next(it) : lf.pairs.erase(it);
    EXPECT_EQ(lf.pairs.size(), GetParam().sdxl ? 128u : 48u);
    applier_->apply({{lf, 1.0}});
    expect_unet("lora.unet.scale1.0");
    applier_->apply({{lf, 0.5}});
    expect_unet("lora.unet.scale0.5");
  }
}

TEST_P(Lora, KohyaAlphaScalesTheUpdate) {
  auto lf = applier_->read(adapter("lora_unet_kohya_alpha2.safetensors"));
  EXPECT_EQ(lf.format, "kohya");
  applier_->apply({{lf, 1.0}});
  expect_unet("lora.unet_alpha2.scale1.0");
}

TEST_P(Lora, TextEncoderLorasMatchDiffusers) {
  for (const std::string file : {"lora_te_peft.safetensors", "lora_te_diffusers.safetensors", "lora_te_kohya.safetensors"}) {
    SCOPED_TRACE(file);
    auto lf = applier_->read(adapter(file));
    for (const double scale : {1.0, 0.5}) {
      applier_->apply({{lf, scale}});
      torch::NoGradGuard no_grad;
      std::ostringstream tag;
      tag << "lora.text_encoder.scale" << (scale == 1.0 ? "1.0" : "0.5");
      auto o = model_.text_encoder->forward(ref_->get("text_encoder.input_ids"));
      EXPECT_MATCHES(*ref_, tag.str() + ".last_hidden_state", o.last_hidden_state);
      EXPECT_MATCHES(*ref_, tag.str() + ".penultimate", o.hidden_states[o.hidden_states.size() - 2]);
      if (GetParam().sdxl) {
        std::ostringstream tag2;
        tag2 << "lora.text_encoder_2.scale" << (scale == 1.0 ? "1.0" : "0.5");
        auto o2 = model_.text_encoder_2->forward(ref_->get("text_encoder_2.input_ids"));
        EXPECT_MATCHES(*ref_, tag2.str() + ".last_hidden_state", o2.last_hidden_state);
        EXPECT_MATCHES(*ref_, tag2.str() + ".penultimate", o2.hidden_states[o2.hidden_states.size() - 2]);
        EXPECT_MATCHES(*ref_, tag2.str() + ".text_embeds", o2.text_embeds);
      }
    }
  }
}

TEST_P(Lora, SwitchingAndClearingRestoresBaseWeights) {
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model_.unet->named_parameters(true)) before[p.key()] = p.value().clone();
  auto a = applier_->read(adapter("lora_unet_peft.safetensors"));
  auto b = applier_->read(adapter("lora_unet_kohya_alpha2.safetensors"));
  applier_->apply({{a, 1.0}, {b, 0.3}});  // several at once
  applier_->apply({{b, 1.0}});           // switch
  expect_unet("lora.unet_alpha2.scale1.0");
  applier_->clear();
  for (const auto& p : model_.unet->named_parameters(true))
    ASSERT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
  EXPECT_MATCHES(*ref_, "unet.call1.out", unet_call(1));
}

TEST_P(Lora, WritesBothFormatsAndReadsThemBack) {
  auto lf = applier_->read(adapter("lora_te_kohya.safetensors"));
  const auto dir = test::scratch_dir("lora");
  write_lora_kohya(dir + "/k.safetensors", lf.pairs, {{"ss_network_dim", "4"}});
  write_lora_peft(dir + "/p.safetensors", lf.pairs, {});
  for (const std::string f : {"k", "p"}) {
    auto back = applier_->read(dir + "/" + f + ".safetensors");
    EXPECT_TRUE(back.unmatched.empty());
    ASSERT_EQ(back.pairs.size(), lf.pairs.size());
    for (const auto& [m, pair] : lf.pairs) {
      ASSERT_TRUE(back.pairs.count(m)) << m;
      EXPECT_TRUE(torch::allclose(back.pairs[m].delta(), pair.delta())) << m;
    }
  }
}

TEST_P(Lora, UnknownModulesAreListedNotIgnored) {
  const auto dir = test::scratch_dir("unknown");
  TensorMap t;
  t["unet.no_such_block.to_q.lora_A.weight"] = torch::zeros({4, 16});
  t["unet.no_such_block.to_q.lora_B.weight"] = torch::zeros({16, 4});
  t["lora_unet_nowhere_to_k.lora_down.weight"] = torch::zeros({4, 16});
  save_safetensors(dir + "/x.safetensors", t);
  auto lf = applier_->read(dir + "/x.safetensors");
  EXPECT_EQ(lf.unmatched.size(), 3u);
  EXPECT_TRUE(lf.pairs.empty());
  TensorMap none;
  none["foo"] = torch::zeros({1});
  save_safetensors(dir + "/none.safetensors", none);
  EXPECT_THROW(applier_->read(dir + "/none.safetensors"), Error);
}

TEST_P(Lora, UnetLoadedLateGetsItsPartWhenItLoads) {
  const std::vector<std::string> files = {adapter("lora_unet_kohya.safetensors"), adapter("lora_te_peft.safetensors")};
  std::vector<LoraChoice> both;
  for (const auto& f : files) both.push_back({applier_->read(f), 0.7});
  applier_->apply(both);

  LoadOptions lo;
  lo.deferred = {Component::UNet, Component::Vae};
  auto late = load_model(test::fixture_path(GetParam().model), lo);
  // A UNet LoRA read while the UNet is not loaded: nothing to merge and nothing unmatched.
  const auto skipped = LoraApplier(late).read(files[0]);
  EXPECT_TRUE(skipped.pairs.empty());
  EXPECT_TRUE(skipped.unmatched.empty());

  const auto applied = apply_adapters(late, {files[0] + ":0.7", files[1] + ":0.7"}, {});
  EXPECT_TRUE(applied.warnings.empty());
  auto same = [](torch::nn::Module& a, torch::nn::Module& b) {
    auto pb = b.named_parameters(true);
    for (const auto& item : a.named_parameters(true))
      if (!torch::equal(item.value(), pb[item.key()])) return false;
    return true;
  };
  EXPECT_TRUE(same(*late.text_encoder, *model_.text_encoder));
  ASSERT_TRUE(late.unet.is_empty());
  load_component(late, Component::UNet);
  EXPECT_TRUE(same(*late.unet, *model_.unet));
  EXPECT_TRUE(late.warnings.empty());

  // Unmatched UNet keys are reported when the UNet loads.
  const auto dir = test::scratch_dir("late_unknown");
  TensorMap t;
  t["lora_unet_nowhere_to_k.lora_down.weight"] = torch::zeros({4, 16});
  save_safetensors(dir + "/x.safetensors", t);
  auto late2 = load_model(test::fixture_path(GetParam().model), lo);
  EXPECT_TRUE(apply_adapters(late2, {dir + "/x.safetensors"}, {}).warnings.empty());
  load_component(late2, Component::UNet);
  ASSERT_EQ(late2.warnings.size(), 1u);
  EXPECT_NE(late2.warnings[0].find("match no module"), std::string::npos) << late2.warnings[0];
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Lora, ::testing::Values(Case{"tiny-sd15", false}, Case{"tiny-sdxl", true}),
                         [](const auto& info) { return info.param.sdxl ? std::string("sdxl") : std::string("sd15"); });
