// Text-to-image for SD 1.x and SDXL: prompt encoding (with 75-token chunks for long prompts), classifier-free
// guidance, SDXL micro-conditioning, the sampler loop and VAE decoding. Seeds follow diffusers' CPU semantics:
// one generator seeded with the seed draws the initial latents and then feeds every scheduler step.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>

#include "core/image.h"
#include "diffusion/model_loader.h"
#include "diffusion/scheduler.h"

namespace prtkl {

struct PromptEmbeddings {
  torch::Tensor prompt_embeds;         // [B, window·k, D] (window: the tokenizer's, 77 for CLIP)
  torch::Tensor pooled_prompt_embeds;  // SDXL [B, P]; undefined for SD 1.x
};
// A run's text conditioning: the prompt's, and with classifier-free guidance the negative prompt's, both with the
// same token count.
struct EncodedPrompts {
  PromptEmbeddings cond, uncond;  // uncond undefined without CFG
};

struct GenerateParams {
  std::string prompt;
  std::string negative_prompt;
  bool has_negative_prompt = false;  // SDXL zeroes an absent negative prompt (force_zeros_for_empty_prompt)
  int64_t steps = 20;
  double guidance_scale = 7.0;  // <= 1 disables classifier-free guidance, as in diffusers
  std::string sampler = "euler";
  uint64_t seed = 0;
  int64_t width = 0, height = 0;  // 0: the model's default (unet sample_size × VAE factor)
  int64_t num_images = 1;
  torch::Tensor latents;  // optional start latents [B,4,h,w] (before × init_noise_sigma), instead of drawing
  // One-shot runs: free the text encoders once the prompts are encoded and the UNet before the VAE decodes, so
  // peak memory is the largest stage instead of the whole model (with LoadOptions::deferred, the UNet and the VAE
  // are also read only when their stage starts). The model cannot generate again afterwards.
  bool release_stages = false;
  // The prompts already encoded (diffusers' prompt_embeds / negative_prompt_embeds, e.g. from encode_prompts):
  // the text encoders are not run, and need not be loaded.
  std::optional<EncodedPrompts> encoded;
};

// A prompt's token ids as the pipeline feeds them to the text encoders: (window - 2)-token chunks with bos/eos (longer
// prompts are split, never cut), one list per tokenizer, both padded with empty-prompt chunks to the same count
// (at least min_chunks). Training tokenizes captions through this too, so it sees what inference sees.
struct PromptTokens {
  std::vector<std::vector<int64_t>> one, two;  // two: SDXL's second tokenizer
};
PromptTokens tokenize_prompt(const StableDiffusionModel& model, const std::string& prompt, size_t min_chunks = 0);
// The text encoders over those tokens: SD 1.x last hidden state; SDXL penultimate states of both encoders side
// by side plus the second encoder's pooled projection. [1, window·k, D]; gradients flow when enabled (pivotal tuning).
PromptEmbeddings encode_tokens(const StableDiffusionModel& model, const PromptTokens& tokens);
// Several prompts of the same chunk count in one pass of each encoder (caching a training set's captions), each
// result as encode_tokens gives it for that prompt alone.
std::vector<PromptEmbeddings> encode_tokens(const StableDiffusionModel& model,
                                            const std::vector<const PromptTokens*>& prompts);

struct StepEvent {
  int64_t step;   // 1-based
  int64_t total;
  const torch::Tensor& latents;  // after this step
};
using StepCallback = std::function<void(const StepEvent&)>;

struct GenerateResult {
  torch::Tensor latents;  // final latents [B,4,h,w]
  torch::Tensor images;   // [B,H,W,3] float in [0,1] (diffusers output_type="np")
  std::string sampler_display_name;
  double encode_seconds = 0, denoise_seconds = 0, decode_seconds = 0;  // wall time of each stage
  double load_seconds = 0;  // reading deferred parts (LoadOptions::deferred) during the run
  std::vector<std::string> notices;  // one line each, for the user (e.g. a VAE re-run in float32)
};

class StableDiffusionPipeline {
 public:
  explicit StableDiffusionPipeline(StableDiffusionModel& model) : model_(model) {}

  // Validates params and fills the defaults (size); throws prtkl::Error naming the bad field.
  GenerateParams resolve(GenerateParams params) const;

  // Encodes `prompt`; with `zero` set returns zeros of the right shape (SDXL's empty negative prompt).
  PromptEmbeddings encode_prompt(const std::string& prompt, bool zero = false) const;
  // What generate feeds the UNet for `params`' prompt and negative prompt (SDXL's zeroed empty negative, and
  // empty-prompt chunks on the shorter side of a long prompt).
  EncodedPrompts encode_prompts(const GenerateParams& params) const;
  // Expands multi-vector embedding triggers (textual_inversion.py / A1111 style) as diffusers does.
  std::string expand_prompt(const std::string& prompt) const;

  GenerateResult generate(const GenerateParams& params, const StepCallback& on_step = {}) const;

  // -> [B,3,H,W], not clamped. A half-precision VAE that overflows is moved to float32 (noted in `notices`).
  torch::Tensor decode_latents(const torch::Tensor& latents, std::vector<std::string>* notices = nullptr) const;
  int64_t vae_scale_factor() const;

 private:
  torch::Tensor add_time_ids(int64_t height, int64_t width, int64_t batch) const;
  StableDiffusionModel& model_;
};

// "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 42, Size: 512x512, Model: name" with prompt and negative lines,
// laid out as AUTOMATIC1111 writes its `parameters` PNG text.
std::string a1111_parameters(const GenerateParams& params, const std::string& sampler_display_name,
                             const std::string& model_name);

// The images of GenerateResult::images ([B,H,W,3] in [0,1]) as 8-bit RGB.
std::vector<Image> to_images(const torch::Tensor& images);

}  // namespace prtkl
