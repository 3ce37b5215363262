// A prompt longer than 75 tokens: each 77-token chunk of its embedding is what the text encoders give for that
// chunk alone (SD 1.x: last hidden state; SDXL: both penultimate states side by side, pooled from the first
// chunk), and a shorter prompt padded to more chunks gets the empty prompt's encoding in the extra ones.
#include <gtest/gtest.h>

#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

class LongPrompts : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    model_ = load_model(test::fixture_path(GetParam()));
  }
  bool sdxl() const { return model_.family == ModelFamily::SDXL; }
  // The encoders on one chunk: [77, D] as the pipeline lays it out.
  torch::Tensor chunk_alone(const PromptTokens& t, size_t c) {
    torch::NoGradGuard no_grad;
    const auto ids = [](const std::vector<int64_t>& v) { return torch::tensor(v).unsqueeze(0); };
    if (!sdxl()) return model_.text_encoder->forward(ids(t.one[c])).last_hidden_state[0];
    auto o1 = model_.text_encoder->forward(ids(t.one[c]));
    auto o2 = model_.text_encoder_2->forward(ids(t.two[c]));
    return torch::cat({o1.hidden_states[o1.hidden_states.size() - 2], o2.hidden_states[o2.hidden_states.size() - 2]}, -1)[0];
  }
  torch::Tensor pooled_alone(const PromptTokens& t, size_t c) {
    torch::NoGradGuard no_grad;
    return model_.text_encoder_2->forward(torch::tensor(t.two[c]).unsqueeze(0)).text_embeds;
  }
  StableDiffusionModel model_;
};

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_P(LongPrompts, EachChunkIsEncodedOnItsOwn) {
  test::Reference ref(GetParam());
  const auto prompt = ref.header().at("tokenizer_strings").at(8).get<std::string>();  // 164 tokens
  const auto tokens = tokenize_prompt(model_, prompt);
  ASSERT_EQ(tokens.one.size(), 3u);
  if (sdxl()) ASSERT_EQ(tokens.two.size(), 3u);
  const auto e = StableDiffusionPipeline(model_).encode_prompt(prompt);
  ASSERT_EQ(e.prompt_embeds.size(1), 3 * 77);
  for (size_t c = 0; c < 3; ++c)
    EXPECT_LT(max_diff(e.prompt_embeds[0].slice(0, 77 * c, 77 * (c + 1)), chunk_alone(tokens, c)), 1e-5) << "chunk " << c;
  if (sdxl()) EXPECT_LT(max_diff(e.pooled_prompt_embeds, pooled_alone(tokens, 0)), 1e-5);
  // The first chunk is the first 75 tokens of the reference ids (the tokenizer test checks the rest).
  const auto raw = ref.get("tokenizer.raw_ids.8");
  EXPECT_TRUE(torch::equal(torch::tensor(tokens.one[0]).slice(0, 1, 76), raw.slice(0, 1, 76)));
}

TEST_P(LongPrompts, ShortPromptsArePaddedWithEmptyPromptChunks) {
  const auto padded = tokenize_prompt(model_, "a ring made of particles", 3);
  ASSERT_EQ(padded.one.size(), 3u);
  const auto e = encode_tokens(model_, padded).prompt_embeds.detach();
  const auto single = tokenize_prompt(model_, "a ring made of particles");
  const auto empty = tokenize_prompt(model_, "");
  EXPECT_LT(max_diff(e[0].slice(0, 0, 77), chunk_alone(single, 0)), 1e-5);
  for (size_t c = 1; c < 3; ++c) EXPECT_LT(max_diff(e[0].slice(0, 77 * c, 77 * (c + 1)), chunk_alone(empty, 0)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LongPrompts, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });
