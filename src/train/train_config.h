// Every option of `prtkl train`, with the defaults of diffusers' advanced DreamBooth LoRA script where it has
// one (docs/training.md lists them). A config file is a flat JSON object with these names; unknown names and
// wrong types are errors naming the field. The resolved config is written into the run folder.
#pragma once
#include <string>
#include <vector>

#include "core/json_config.h"
#include "train/dataset.h"

namespace prtkl {

// What full training trains: the UNet (and the text encoder with train_text_encoder), the autoencoder, or the
// autoencoder's decoder on the frozen encoder's latents.
enum class TrainStage { kUNet, kVae, kVaeDecoder };
enum class OptimizerKind { kAdamW, kProdigy };
// Matmuls and convolutions in bf16/fp16 under autocast; weights, LoRA and the loss stay fp32.
enum class MixedPrecision { kNo, kBf16, kFp16 };
enum class Distillation { kNone, kLcm };
// The names the config files use ("unet", "adamw", "bf16", "lcm"; kNone is "").
const char* name_of(TrainStage v);
const char* name_of(OptimizerKind v);
const char* name_of(MixedPrecision v);
const char* name_of(Distillation v);

struct TrainConfig {
  // What and where
  std::string model, output_dir, name = "prtkl", data, device = "cpu", resume;
  MixedPrecision mixed_precision = MixedPrecision::kNo;
  // Dataset
  // resolution 0: the model's native size; bucket sizes 0: derived from the resolution (bucket_sides)
  std::string caption_ext = ".txt", default_caption, trigger, trigger_template = "{trigger}, {caption}";
  int64_t resolution = 0, bucket_step = 0, min_bucket = 0, max_bucket = 0, held_out = 0;
  bool center_crop = false, random_flip = false, buckets = false;
  int repeats = 1;
  uint64_t seed = 0;
  // LoRA
  int64_t rank = 4;
  double alpha = 0;  // 0: alpha = rank (scale 1, as diffusers)
  double dropout = 0;
  std::vector<std::string> unet_targets = {"to_q", "to_k", "to_v", "to_out.0"};
  bool train_text_encoder = false;
  std::vector<std::string> text_encoder_targets = {"q_proj", "k_proj", "v_proj", "out_proj"};
  // Textual inversion / pivotal tuning
  bool pivotal = false;
  std::string token_abstraction = "TOK", initializer_concept;
  int64_t tokens_per_abstraction = 2;
  double ti_frac = 0.5;  // of optimizer steps
  // Full training (no LoRA): the model's own weights, e.g. the bundled model from scratch. stage "unet" trains
  // the UNet (and the text encoder with train_text_encoder); stage "vae" trains the autoencoder alone, stage
  // "vae_decoder" its decoder on the frozen encoder's latents (as Stability made sd-vae-ft-mse: the latent space,
  // and so a trained UNet, stays valid).
  bool full = false;
  TrainStage stage = TrainStage::kUNet;
  double ema_decay = -1;        // -1: 0.999 for full training, off otherwise; warmed up as diffusers' EMAModel
  double caption_dropout = 0;   // share of captions replaced by "" (what classifier-free guidance needs)
  double kl_weight = 1e-6;      // VAE stage: KL term beside the L1 reconstruction loss
  std::string save_dtype = "fp32";  // weights of the saved models and LoRA files (fp32, fp16, bf16)
  // Latent consistency distillation (distill "lcm"): a LoRA on the UNet learns to jump from timestep to timestep as
  // the model's own guided DDIM step does (train/consistency_distillation.h). lcm_guidance is the teacher's CFG
  // scale, folded into the student; the EMA of the LoRA (ema_decay, default 0.95) is the target network.
  Distillation distill = Distillation::kNone;
  int64_t lcm_original_steps = 50;
  double lcm_guidance = 2.0, huber_c = 0.001;
  // Optimizer and schedule
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  std::string lr_scheduler = "constant";
  double lr = 1e-4, text_encoder_lr = -1, weight_decay = 1e-4, text_encoder_weight_decay = -1;  // -1: derived
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  double prodigy_d0 = 1e-6, prodigy_d_coef = 1.0, prodigy_growth_rate = 0, prodigy_beta3 = -1;  // growth 0: inf
  bool prodigy_use_bias_correction = true, prodigy_safeguard_warmup = true, prodigy_decouple = true;
  int64_t lr_warmup_steps = 0, max_train_steps = 1000, batch_size = 1, gradient_accumulation_steps = 1;
  double max_grad_norm = 1.0, snr_gamma = 0, noise_offset = 0;
  // Memory: the UNet's resnets and transformer blocks (and the text encoders' layers, when they train) recompute
  // their activations in the backward pass instead of keeping them; same results, one more forward per step.
  bool gradient_checkpointing = false;
  // The frozen base weights (UNet, text encoders) in fp32, bf16 (CPU or CUDA) or fp16 (CUDA); LoRA weights, token
  // rows, optimizer state and the loss stay fp32. LoRA and pivotal runs only (full training trains those weights).
  std::string base_dtype = "fp32";
  // Latents are encoded once per sample (its crop and flip are fixed, so a cached latent always matches its
  // caption and time ids) and the VAE is freed for the steps; text embeddings once per caption when nothing in the
  // text path trains. false: encode every step, as diffusers does without --cache_latents.
  bool cache_latents = true, cache_text_embeddings = true;
  std::string prediction_type;  // empty: the scheduler config's
  // Checkpoints, validation, logs
  int64_t checkpoint_every = 500, keep_checkpoints = 0, validation_every = 0, validation_steps = 20, log_every = 10;
  std::vector<std::string> validation_prompts;
  std::vector<uint64_t> validation_seeds = {1};
  double validation_cfg = 7.0;
  std::string validation_sampler = "euler";

  Json to_json() const;
  // Overlays the fields present in `json` on this config; errors name `source` and the field.
  void apply_json(const Json& json, const std::string& source);
  // Fills derived defaults (alpha, text-encoder LR and weight decay, validation cadence) and checks ranges.
  void resolve();
  // Full training's autoencoder stages: both train on pixels; the decoder stage keeps the encoder (and so the
  // latents) as it is.
  bool autoencoder_stage() const { return full && stage != TrainStage::kUNet; }
  bool decoder_stage() const { return full && stage == TrainStage::kVaeDecoder; }
  // "<s0><s1>…": the new tokens of pivotal tuning; empty when pivotal is off.
  std::string pivotal_tokens() const;
  // `text` with every token_abstraction replaced by pivotal_tokens() (captions, validation and sweep prompts).
  std::string expand_abstraction(std::string text) const;
  // The data set's options (call after resolve(): pivotal runs put the token abstraction in as the trigger).
  DatasetOptions dataset_options() const;
};

// Named starting points: "ready" is the recipe that worked for the particle style on SDXL with about 50 images
// (pivotal tuning, rank 16, lr 7e-5, text-encoder lr 2e-4, ti_frac 0.3, 2200 steps, AdamW).
TrainConfig train_preset(const std::string& name);

}  // namespace prtkl
