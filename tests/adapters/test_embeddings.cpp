// Textual-inversion files against diffusers' load_textual_inversion, and the LoRA + embeddings pipeline.
#include <gtest/gtest.h>

#include "adapters/embeddings.h"
#include "adapters/lora_apply.h"
#include "core/error.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

class Embeddings : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    torch::set_num_threads(2);
    ref_ = std::make_unique<test::Reference>(GetParam());
    model_ = load_model(test::fixture_path(GetParam()));
  }
  bool sdxl() const { return GetParam() == "tiny-sdxl"; }
  std::string adapter(const std::string& f) const { return test::fixture_path(GetParam() + "/adapters/" + f); }
  torch::Tensor ids(const ClipTokenizer& tok, const std::string& prompt) const {
    return torch::tensor(tok.encode_padded(prompt), torch::kInt64).unsqueeze(0);
  }
  std::unique_ptr<test::Reference> ref_;
  StableDiffusionModel model_;
};

}  // namespace

TEST_P(Embeddings, PivotalTuningFileMatchesDiffusers) {
  auto e = load_embeddings(model_, adapter("prtkl_emb.safetensors"));
  EXPECT_EQ(e.trigger, "<s0><s1>");
  const auto prompt = ref_->header().at("textual_inversion").at("pivotal_prompt").get<std::string>();
  torch::NoGradGuard no_grad;
  auto i1 = ids(*model_.tokenizer, prompt);
  EXPECT_MATCHES(*ref_, "ti.text_encoder.input_ids", i1);
  auto o1 = model_.text_encoder->forward(i1);
  EXPECT_MATCHES(*ref_, "ti.text_encoder.last_hidden_state", o1.last_hidden_state);
  EXPECT_MATCHES(*ref_, "ti.text_encoder.penultimate", o1.hidden_states[o1.hidden_states.size() - 2]);
  StableDiffusionPipeline pipe(model_);
  auto pe = pipe.encode_prompt(prompt);
  EXPECT_MATCHES(*ref_, "ti.prompt_embeds", pe.prompt_embeds);
  if (sdxl()) {
    auto i2 = ids(*model_.tokenizer_2, prompt);
    EXPECT_MATCHES(*ref_, "ti.text_encoder_2.input_ids", i2);
    auto o2 = model_.text_encoder_2->forward(i2);
    EXPECT_MATCHES(*ref_, "ti.text_encoder_2.last_hidden_state", o2.last_hidden_state);
    EXPECT_MATCHES(*ref_, "ti.text_encoder_2.penultimate", o2.hidden_states[o2.hidden_states.size() - 2]);
    EXPECT_MATCHES(*ref_, "ti.text_encoder_2.text_embeds", o2.text_embeds);
    EXPECT_MATCHES(*ref_, "ti.pooled_prompt_embeds", pe.pooled_prompt_embeds);
  }
}

TEST_P(Embeddings, LoraAndEmbeddingsPipelineMatchesDiffusers) {
  load_embeddings(model_, adapter("prtkl_emb.safetensors"));
  LoraApplier loras(model_);
  loras.apply({{loras.read(adapter("lora_unet_peft.safetensors")), 0.8}});
  const auto& s = ref_->header().at("pipelines").at("lora_ti");
  GenerateParams p;
  p.prompt = s.at("prompt");
  p.negative_prompt = s.at("negative_prompt");
  p.has_negative_prompt = true;
  p.steps = s.at("num_inference_steps");
  p.guidance_scale = s.at("guidance_scale");
  p.height = s.at("height");
  p.width = s.at("width");
  p.sampler = s.at("scheduler");
  p.latents = ref_->get("pipe.lora_ti.latents_in");
  StableDiffusionPipeline pipe(model_);
  EXPECT_MATCHES(*ref_, "pipe.lora_ti.prompt_embeds", pipe.encode_prompt(p.prompt).prompt_embeds);
  std::vector<torch::Tensor> steps;
  auto out = pipe.generate(p, [&](const StepEvent& e) { steps.push_back(e.latents.clone()); });
  EXPECT_MATCHES(*ref_, "pipe.lora_ti.step_latents", torch::stack(steps));
  EXPECT_MATCHES(*ref_, "pipe.lora_ti.latents_out", out.latents);
  EXPECT_MATCHES(*ref_, "pipe.lora_ti.image", out.images);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Embeddings, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });

TEST(Embeddings, TextualInversionScriptFormatExpandsMultiVectorTokens) {
  torch::set_num_threads(2);
  test::Reference ref("tiny-sd15");
  auto model = load_model(test::fixture_path("tiny-sd15"));
  auto e = load_embeddings(model, test::fixture_path("tiny-sd15/adapters/learned_embeds.safetensors"));
  EXPECT_EQ(e.trigger, "<prtkl>");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"<prtkl>", "<prtkl>_1"}));
  StableDiffusionPipeline pipe(model);
  const auto& ti = ref.header().at("textual_inversion");
  const auto prompt = ti.at("learned_embeds_prompt").get<std::string>();
  EXPECT_EQ(pipe.expand_prompt(prompt), ti.at("learned_embeds_prompt_converted").get<std::string>());
  EXPECT_MATCHES(ref, "ti.learned_embeds.input_ids",
                 torch::tensor(model.tokenizer->encode_padded(pipe.expand_prompt(prompt))).unsqueeze(0));
  EXPECT_MATCHES(ref, "ti.learned_embeds.prompt_embeds", pipe.encode_prompt(prompt).prompt_embeds);
}

TEST(Embeddings, WrongWidthIsAClearError) {
  auto model = load_model(test::fixture_path("tiny-sd15"));
  // The SDXL pivotal file has clip_g rows: SD 1.5 has no second encoder.
  EXPECT_THROW(load_embeddings(model, test::fixture_path("tiny-sdxl/adapters/prtkl_emb.safetensors")), Error);
  EXPECT_EQ(model.tokenizer->vocab_size(), 914);  // nothing was added
  EXPECT_EQ(model.text_encoder->token_embedding()->weight.size(0), 914);
}
