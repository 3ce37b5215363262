// One pivotal-tuning step of diffusers' advanced SDXL script on tiny-sdxl: <s0><s1> added to both tokenizers,
// captions tokenized and encoded as inference does, the new token rows and the UNet LoRA trainable; loss and
// every gradient (LoRA and both encoders' new rows) match the fixture.
#include <gtest/gtest.h>

#include "adapters/embeddings.h"
#include "diffusion/ddpm_noise.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"
#include "train/lora_injection.h"

using namespace prtkl;

TEST(PivotalTraining, SdxlStepMatchesDiffusersScript) {
  torch::set_num_threads(2);
  test::Reference ref("tiny-sdxl");
  auto model = load_model(test::fixture_path("tiny-sdxl"));
  for (auto& p : model.unet->parameters()) p.set_requires_grad(false);
  for (auto* enc : {&model.text_encoder, &model.text_encoder_2})
    for (auto& p : (*enc)->parameters()) p.set_requires_grad(false);
  at::Generator gen = at::detail::createCPUGenerator(0);
  auto lora = inject_lora(*model.unet, {"to_q", "to_k", "to_v", "to_out.0"}, 4, 4.0, 0.0, gen, "unet");
  auto start = SafeTensors::open(test::fixture_path("tiny-sdxl/adapters/lora_unet_peft.safetensors"));
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, layer] : lora.layers) {
      layer->down.copy_(start.get("unet." + name + ".lora_A.weight"));
      layer->up.copy_(start.get("unet." + name + ".lora_B.weight"));
    }
  }
  load_embeddings(model, test::fixture_path("tiny-sdxl/adapters/prtkl_emb.safetensors"));
  auto rows = [](ClipTextModel& enc) {
    const auto& table = enc->token_embedding()->weight;
    auto leaf = table.narrow(0, table.size(0) - 2, 2).detach().clone().set_requires_grad(true);
    enc->set_token_rows(leaf);
    return leaf;
  };
  auto rows_l = rows(model.text_encoder), rows_g = rows(model.text_encoder_2);

  const auto captions = ref.header()["train_step"]["captions"];
  std::vector<torch::Tensor> embeds, pooled, ids_one, ids_two;
  for (const auto& caption : captions) {
    const auto tokens = tokenize_prompt(model, caption.get<std::string>());
    ids_one.push_back(torch::tensor(tokens.one[0]));
    ids_two.push_back(torch::tensor(tokens.two[0]));
    const auto e = encode_tokens(model, tokens);
    embeds.push_back(e.prompt_embeds);
    pooled.push_back(e.pooled_prompt_embeds);
  }
  EXPECT_MATCHES(ref, "train.tokens_one", torch::stack(ids_one));
  EXPECT_MATCHES(ref, "train.tokens_two", torch::stack(ids_two));
  const auto context = torch::cat(embeds), text_embeds = torch::cat(pooled);
  EXPECT_MATCHES(ref, "train.prompt_embeds", context);
  EXPECT_MATCHES(ref, "train.pooled_prompt_embeds", text_embeds);

  model.unet->train();
  DDPMNoiseSchedule ddpm(model.scheduler_config);
  const auto latents = ref.get("train.latents"), noise = ref.get("train.noise"), t = ref.get("train.timesteps");
  auto noisy = ddpm.add_noise(latents, noise, t);
  EXPECT_MATCHES(ref, "train.noisy_latents", noisy);
  auto pred = model.unet->forward(noisy, t, context, text_embeds, ref.get("train.time_ids"));
  EXPECT_MATCHES(ref, "train.model_pred", pred);
  auto loss = torch::mse_loss(pred.to(torch::kFloat32), noise.to(torch::kFloat32));
  EXPECT_MATCHES(ref, "train.loss", loss);
  loss.backward();
  EXPECT_GRAD_MATCHES(ref, "train.grad.clip_l", rows_l.grad());
  EXPECT_GRAD_MATCHES(ref, "train.grad.clip_g", rows_g.grad());
  for (auto& [name, layer] : lora.layers) {
    EXPECT_GRAD_MATCHES(ref, "train.grad.unet." + name + ".lora_A.weight", layer->down.grad());
    EXPECT_GRAD_MATCHES(ref, "train.grad.unet." + name + ".lora_B.weight", layer->up.grad());
  }
  // Nothing but the new rows and the LoRA gets a gradient.
  EXPECT_FALSE(model.text_encoder->token_embedding()->weight.grad().defined());
}
