// UNet and VAE against diffusers on both tiny models, chunked attention against unchunked, and config errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file_util.h"
#include "models/attention.h"
#include "models/unet.h"
#include "models/vae.h"
#include "models/weights.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

struct Case {
  std::string model;
  bool sdxl;
};

template <typename M>
M load(const std::string& model, const std::string& component) {
  const auto dir = test::fixture_path(model + "/" + component);
  M m(Config::load(dir + "/config.json"));
  load_weights_file(*m, dir + "/diffusion_pytorch_model.safetensors");
  m->eval();
  return m;
}

class Models : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { torch::set_num_threads(2); }
};

}  // namespace

TEST_P(Models, UNetMatchesDiffusers) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto unet = load<UNet2DConditionModel>(GetParam().model, "unet");
  EXPECT_EQ(parameter_count(*unet), ref.header().at("parameter_counts").at("unet").get<int64_t>());
  for (const std::string call : {"unet.call1.", "unet.call2."}) {
    torch::Tensor text_embeds, time_ids;
    if (GetParam().sdxl) {
      text_embeds = ref.get(call + "text_embeds");
      time_ids = ref.get(call + "time_ids");
    }
    auto out = unet->forward(ref.get(call + "sample"), ref.get(call + "timestep"), ref.get(call + "encoder_hidden_states"),
                             text_embeds, time_ids);
    EXPECT_MATCHES(ref, call + "out", out);
  }
}

TEST_P(Models, UNetWithForcedAttentionChunksIsUnchanged) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto unet = load<UNet2DConditionModel>(GetParam().model, "unet");
  torch::Tensor text_embeds, time_ids;
  if (GetParam().sdxl) {
    text_embeds = ref.get("unet.call1.text_embeds");
    time_ids = ref.get("unet.call1.time_ids");
  }
  const auto saved = attention_chunk_bytes();
  set_attention_chunk_bytes(1);  // one query row at a time
  auto out = unet->forward(ref.get("unet.call1.sample"), ref.get("unet.call1.timestep"),
                           ref.get("unet.call1.encoder_hidden_states"), text_embeds, time_ids);
  set_attention_chunk_bytes(saved);
  EXPECT_MATCHES(ref, "unet.call1.out", out);
}

TEST_P(Models, VaeDecodeAndEncodeMatchDiffusers) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto vae = load<AutoencoderKL>(GetParam().model, "vae");
  EXPECT_EQ(parameter_count(*vae), ref.header().at("parameter_counts").at("vae").get<int64_t>());
  EXPECT_MATCHES(ref, "vae.decode.out", vae->decode(ref.get("vae.decode.latents")));
  auto dist = vae->encode(ref.get("vae.encode.image"));
  EXPECT_MATCHES(ref, "vae.encode.mean", dist.mean);
  EXPECT_MATCHES(ref, "vae.encode.logvar", dist.logvar);
  EXPECT_MATCHES(ref, "vae.encode.std", dist.std);
  at::Generator gen = at::detail::createCPUGenerator(ref.header().at("vae_encode_sample_seed").get<uint64_t>());
  EXPECT_MATCHES(ref, "vae.encode.sample", dist.sample(gen));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Models, ::testing::Values(Case{"tiny-sd15", false}, Case{"tiny-sdxl", true}),
                         [](const auto& info) { return info.param.sdxl ? std::string("sdxl") : std::string("sd15"); });

TEST(Attention, ChunkedEqualsWhole) {
  torch::manual_seed(0);
  auto q = torch::randn({2, 37, 24}), k = torch::randn({2, 11, 24}), v = torch::randn({2, 11, 24});
  auto whole = attention(q, k, v, 3);
  const auto saved = attention_chunk_bytes();
  set_attention_chunk_bytes(2 * 3 * 11 * 4 * 5);  // five query rows per chunk
  auto chunked = attention(q, k, v, 3);
  set_attention_chunk_bytes(saved);
  EXPECT_TRUE(torch::allclose(whole, chunked, 1e-6, 1e-6));
  // Against the textbook formula.
  auto qh = q.view({2, 37, 3, 8}).transpose(1, 2), kh = k.view({2, 11, 3, 8}).transpose(1, 2),
       vh = v.view({2, 11, 3, 8}).transpose(1, 2);
  auto ref = torch::matmul(torch::softmax(torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(8.0), -1), vh);
  EXPECT_TRUE(torch::allclose(whole, ref.transpose(1, 2).reshape({2, 37, 24}), 1e-5, 1e-6));
}

TEST(UNetConfig, UnknownBlockTypeNamesTheField) {
  auto json = read_json_file(test::fixture_path("tiny-sd15/unet/config.json"));
  json["down_block_types"][0] = "SimpleCrossAttnDownBlock2D";
  try {
    UNet2DConditionModel m(Config(json, "unet/config.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("down_block_types"), std::string::npos) << e.what();
  }
}

TEST(UNetConfig, SizesThatContradictWeightsNameTheTensor) {
  auto json = read_json_file(test::fixture_path("tiny-sd15/unet/config.json"));
  json["block_out_channels"] = {16, 48};
  UNet2DConditionModel m(Config(json, "unet/config.json"));
  try {
    load_weights_file(*m, test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("diffusion_pytorch_model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor '"), std::string::npos) << msg;
  }
}
