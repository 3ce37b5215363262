// AUTOMATIC1111's safetensors embeddings ({"emb_params": [n, hidden]}, the trigger is the file name): holding the
// vectors of the textual_inversion.py fixture, they must give the prompt embeddings diffusers gave for that file.
#include <gtest/gtest.h>

#include "adapters/embeddings.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"

using namespace prtkl;

TEST(A1111Embeddings, EmbParamsFileNamedByItsTrigger) {
  torch::set_num_threads(1);
  test::Reference ref("tiny-sd15");
  const auto vectors = SafeTensors::open(test::fixture_path("tiny-sd15/adapters/learned_embeds.safetensors")).get("<prtkl>");
  const auto dir = test::scratch_dir("emb_params");
  save_safetensors(dir + "/prtklstyle.safetensors", {{"emb_params", vectors}});

  auto model = load_model(test::fixture_path("tiny-sd15"));
  const auto e = load_embeddings(model, dir + "/prtklstyle.safetensors");
  EXPECT_EQ(e.trigger, "prtklstyle");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"prtklstyle", "prtklstyle_1"}));
  // The fixture's prompt "a drawing in <prtkl> style" with this file's trigger: the same ids, the same embeddings.
  auto prompt = ref.header().at("textual_inversion").at("learned_embeds_prompt").get<std::string>();
  ASSERT_NE(prompt.find("<prtkl>"), std::string::npos);
  prompt.replace(prompt.find("<prtkl>"), 7, "prtklstyle");
  StableDiffusionPipeline pipe(model);
  EXPECT_MATCHES(ref, "ti.learned_embeds.input_ids",
                 torch::tensor(model.tokenizer->encode_padded(pipe.expand_prompt(prompt))).unsqueeze(0));
  EXPECT_MATCHES(ref, "ti.learned_embeds.prompt_embeds", pipe.encode_prompt(prompt).prompt_embeds);

  // An explicit trigger replaces the file name.
  auto other = load_model(test::fixture_path("tiny-sd15"));
  EXPECT_EQ(load_embeddings(other, dir + "/prtklstyle.safetensors", "<prtkl>").tokens,
            (std::vector<std::string>{"<prtkl>", "<prtkl>_1"}));
}

// SDXL: an A1111 file is one encoder's width; 48-wide rows go to the second encoder only.
TEST(A1111Embeddings, SdxlRowsGoToTheEncoderOfTheirWidth) {
  torch::set_num_threads(1);
  const auto rows = SafeTensors::open(test::fixture_path("tiny-sdxl/adapters/prtkl_emb.safetensors")).get("clip_g");
  const auto dir = test::scratch_dir("emb_params_g");
  save_safetensors(dir + "/gstyle.safetensors", {{"emb_params", rows}});
  auto model = load_model(test::fixture_path("tiny-sdxl"));
  load_embeddings(model, dir + "/gstyle.safetensors");
  EXPECT_EQ(model.tokenizer->vocab_size(), 914) << "the first tokenizer is untouched";
  ASSERT_EQ(model.tokenizer_2->vocab_size(), 916);
  const auto& table = model.text_encoder_2->token_embedding()->weight;
  EXPECT_TRUE(torch::equal(table.slice(0, 914, 916), rows));
  const auto ids = model.tokenizer_2->encode_padded(StableDiffusionPipeline(model).expand_prompt("gstyle"));
  EXPECT_EQ(std::vector<int64_t>(ids.begin() + 1, ids.begin() + 3), (std::vector<int64_t>{914, 915}));
}
