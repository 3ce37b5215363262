// One LoRA training step of diffusers' DreamBooth-LoRA script on tiny-sd15: noisy latents, frozen text
// embeddings, UNet prediction, MSE loss, every LoRA gradient and the AdamW update.
#include <gtest/gtest.h>

#include "diffusion/ddpm_noise.h"
#include "diffusion/model_loader.h"
#include "support/fixtures.h"
#include "train/lora_injection.h"
#include "train/optimizer.h"

using namespace prtkl;

TEST(LoraTraining, OneStepMatchesDiffusersScript) {
  torch::set_num_threads(2);
  test::Reference ref("tiny-sd15");
  auto model = load_model(test::fixture_path("tiny-sd15"));
  at::Generator gen = at::detail::createCPUGenerator(0);
  auto lora = inject_lora(*model.unet, {"to_q", "to_k", "to_v", "to_out.0"}, 4, 4.0, 0.0, gen, "unet");
  EXPECT_EQ(lora.layers.size(), 48u);
  // Start from the fixture's LoRA values, as the reference step did.
  auto start = SafeTensors::open(test::fixture_path("tiny-sd15/adapters/lora_unet_peft.safetensors"));
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, layer] : lora.layers) {
      layer->down.copy_(start.get("unet." + name + ".lora_A.weight"));
      layer->up.copy_(start.get("unet." + name + ".lora_B.weight"));
    }
  }
  model.unet->train();
  DDPMNoiseSchedule ddpm(model.scheduler_config);
  const auto latents = ref.get("train.latents"), noise = ref.get("train.noise"), t = ref.get("train.timesteps");
  auto noisy = ddpm.add_noise(latents, noise, t);
  EXPECT_MATCHES(ref, "train.noisy_latents", noisy);
  torch::Tensor context;
  {
    torch::NoGradGuard no_grad;
    context = model.text_encoder->forward(ref.get("train.input_ids")).last_hidden_state;
  }
  EXPECT_MATCHES(ref, "train.encoder_hidden_states", context);
  auto pred = model.unet->forward(noisy, t, context);
  EXPECT_MATCHES(ref, "train.model_pred", pred);
  auto loss = torch::mse_loss(pred.to(torch::kFloat32), noise.to(torch::kFloat32));
  EXPECT_MATCHES(ref, "train.loss", loss);
  loss.backward();
  for (auto& [name, layer] : lora.layers) {
    EXPECT_GRAD_MATCHES(ref, "train.grad.unet." + name + ".lora_A.weight", layer->down.grad());
    EXPECT_GRAD_MATCHES(ref, "train.grad.unet." + name + ".lora_B.weight", layer->up.grad());
  }
  // Frozen weights get no gradient.
  for (const auto& p : model.unet->named_parameters(true))
    if (p.key().find("lora_") == std::string::npos) ASSERT_FALSE(p.value().grad().defined()) << p.key();
  AdamW opt({ParamGroup{"unet", lora.parameters(), 1e-4, 1e-2, false}});
  opt.step();
  for (auto& [name, layer] : lora.layers) {
    EXPECT_MATCHES(ref, "train.adamw_step1.unet." + name + ".lora_A.weight", layer->down);
    EXPECT_MATCHES(ref, "train.adamw_step1.unet." + name + ".lora_B.weight", layer->up);
  }
}
