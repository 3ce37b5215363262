// CLIP text encoders against transformers: hidden states, pooled output and projection.
#include <gtest/gtest.h>

#include "models/clip.h"
#include "models/weights.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

ClipTextModel load_encoder(const std::string& model, const std::string& name) {
  const auto dir = test::fixture_path(model + "/" + name);
  ClipTextModel m(Config::load(dir + "/config.json"));
  load_weights_file(*m, dir + "/model.safetensors");
  m->eval();
  return m;
}

void check_encoder(const std::string& model, const std::string& name, bool projection) {
  torch::NoGradGuard no_grad;
  torch::set_num_threads(2);
  test::Reference ref(model);
  auto m = load_encoder(model, name);
  EXPECT_EQ(m->has_projection(), projection);
  auto out = m->forward(ref.get(name + ".input_ids"));
  EXPECT_MATCHES(ref, name + ".last_hidden_state", out.last_hidden_state);
  size_t layers = 0;  // embeddings + one per layer, counted in the reference, not in the code under test
  while (ref.contains(name + ".hidden_states." + std::to_string(layers))) ++layers;
  ASSERT_EQ(out.hidden_states.size(), layers);
  for (size_t k = 0; k < out.hidden_states.size(); ++k)
    EXPECT_MATCHES(ref, name + ".hidden_states." + std::to_string(k), out.hidden_states[k]);
  if (ref.contains(name + ".pooler_output")) EXPECT_MATCHES(ref, name + ".pooler_output", out.pooled);
  if (projection) EXPECT_MATCHES(ref, name + ".text_embeds", out.text_embeds);
}

}  // namespace

TEST(ClipText, Sd15Encoder) { check_encoder("tiny-sd15", "text_encoder", false); }
TEST(ClipText, SdxlEncoder) { check_encoder("tiny-sdxl", "text_encoder", false); }
TEST(ClipText, SdxlEncoderWithProjection) { check_encoder("tiny-sdxl", "text_encoder_2", true); }

TEST(ClipText, ParameterCountMatchesTransformers) {
  EXPECT_EQ(parameter_count(*load_encoder("tiny-sd15", "text_encoder")), 45354);
  EXPECT_EQ(parameter_count(*load_encoder("tiny-sdxl", "text_encoder_2")), 105696);
}
