// A prompt longer than 75 tokens: each 77-token chunk of its embedding is what the text encoders give for that
// chunk alone (SD 1.x: last hidden state; SDXL: both penultimate states side by side, pooled from the first
// chunk), and a shorter prompt padded to more chunks gets the empty prompt's encoding in the extra ones.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"

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

// The trainer caches a data set's captions in batches: each prompt's rows must be what it gets alone, pooled
// projection included, for prompts of any length (a batch holds prompts of one chunk count).
TEST_P(LongPrompts, PromptsEncodedTogetherGetWhatEachGetsAlone) {
  torch::NoGradGuard no_grad;
  const std::vector<std::string> prompts = {"a ring made of particles", "", "red apple flat", "two people hugging"};
  std::vector<PromptTokens> tokens;
  for (const auto& p : prompts) tokens.push_back(tokenize_prompt(model_, p, 2));
  std::vector<const PromptTokens*> batch;
  for (const auto& t : tokens) batch.push_back(&t);
  const auto together = encode_tokens(model_, batch);
  ASSERT_EQ(together.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = encode_tokens(model_, tokens[i]);
    ASSERT_EQ(together[i].prompt_embeds.sizes(), alone.prompt_embeds.sizes()) << prompts[i];
    EXPECT_LT(max_diff(together[i].prompt_embeds, alone.prompt_embeds), 1e-5) << prompts[i];
    if (sdxl()) EXPECT_LT(max_diff(together[i].pooled_prompt_embeds, alone.pooled_prompt_embeds), 1e-5) << prompts[i];
  }
  const auto one_chunk = tokenize_prompt(model_, "cat face");
  try {
    encode_tokens(model_, {&tokens[0], &one_chunk});
    FAIL() << "prompts of different chunk counts were encoded together";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk count"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LongPrompts, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });

// A tokenizer with a shorter window (model_max_length, as diffusers reads it): CLIP's attention is causal, so a
// prompt that fits encodes to the first rows of its 77-token encoding, and a long prompt and a short negative
// prompt still line up chunk for chunk in generation. A window longer than the encoder's positions is refused.
TEST_P(LongPrompts, ShorterWindowEncodesTheSamePrefix) {
  const auto dir = test::scratch_dir("window16_" + GetParam()) + "/model";
  std::filesystem::copy(test::fixture_path(GetParam()), dir, std::filesystem::copy_options::recursive);
  auto set_window = [&](int64_t window) {
    for (const char* t : {"tokenizer", "tokenizer_2"}) {
      const auto p = dir + "/" + t + "/tokenizer_config.json";
      if (!std::filesystem::exists(p)) continue;
      auto config = read_json_file(p);
      config["model_max_length"] = window;
      write_file_atomic(p, config.dump(2));
    }
  };
  set_window(16);
  auto short_model = load_model(dir);
  ASSERT_EQ(short_model.tokenizer->window(), 16);
  StableDiffusionPipeline pipe(short_model);
  const auto e16 = pipe.encode_prompt("a ring made of particles");
  const auto e77 = StableDiffusionPipeline(model_).encode_prompt("a ring made of particles");
  ASSERT_EQ(e16.prompt_embeds.size(1), 16);
  EXPECT_LT(max_diff(e16.prompt_embeds, e77.prompt_embeds.slice(1, 0, 16)), 1e-5);
  if (sdxl()) EXPECT_LT(max_diff(e16.pooled_prompt_embeds, e77.pooled_prompt_embeds), 1e-5);

  GenerateParams p;
  p.prompt = test::Reference(GetParam()).header().at("tokenizer_strings").at(8).get<std::string>();
  p.negative_prompt = "blurry";
  p.has_negative_prompt = true;
  p.steps = 2;
  p.guidance_scale = 5;
  const auto chunks = tokenize_prompt(short_model, p.prompt).one.size();
  EXPECT_GT(chunks, 5u);
  EXPECT_EQ(pipe.encode_prompt(p.prompt).prompt_embeds.size(1), static_cast<int64_t>(16 * chunks));
  const auto out = pipe.generate(p);
  EXPECT_TRUE(torch::isfinite(out.images).all().item<bool>());

  set_window(100);
  try {
    load_model(dir);
    FAIL() << "a 100-token window on a 77-position encoder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_max_length"), std::string::npos) << e.what();
  }
}
