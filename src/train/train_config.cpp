#include "train/train_config.h"

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

#include "core/error.h"

namespace prtkl {

namespace {

// One table of (name, reader, writer) keeps to_json and apply_json in step.
struct Field {
  std::function<Json(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const Json&)> set;
};

template <typename T>
Field field(T TrainConfig::*member) {
  return {[member](const TrainConfig& c) { return Json(c.*member); },
          [member](TrainConfig& c, const Json& j) { c.*member = j.get<T>(); }};
}

// The name of each value of an enum field, in its order: the file's string is read into the enum and checked.
template <typename E>
struct EnumNames {
  static const std::vector<const char*> names;
};
template <>
const std::vector<const char*> EnumNames<TrainStage>::names = {"unet", "vae", "vae_decoder"};
template <>
const std::vector<const char*> EnumNames<OptimizerKind>::names = {"adamw", "prodigy"};
template <>
const std::vector<const char*> EnumNames<MixedPrecision>::names = {"no", "bf16", "fp16"};
template <>
const std::vector<const char*> EnumNames<Distillation>::names = {"", "lcm"};

// Thrown by an enum field's reader for a name it does not know; apply_json names the file and the option.
struct UnknownName : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename E>
Field enum_field(E TrainConfig::*member) {
  return {[member](const TrainConfig& c) { return Json(name_of(c.*member)); },
          [member](TrainConfig& c, const Json& j) {
            const auto name = j.get<std::string>();
            const auto& names = EnumNames<E>::names;
            for (size_t i = 0; i < names.size(); ++i)
              if (name == names[i]) return void(c.*member = static_cast<E>(i));
            std::string known;
            for (const char* n : names) known += std::string(known.empty() ? "" : ", ") + '"' + n + '"';
            throw UnknownName("\"" + name + "\" is not one of " + known);
          }};
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> f = {
      {"model", field(&TrainConfig::model)},
      {"output_dir", field(&TrainConfig::output_dir)},
      {"name", field(&TrainConfig::name)},
      {"data", field(&TrainConfig::data)},
      {"device", field(&TrainConfig::device)},
      {"mixed_precision", enum_field(&TrainConfig::mixed_precision)},
      {"resume", field(&TrainConfig::resume)},
      {"caption_ext", field(&TrainConfig::caption_ext)},
      {"default_caption", field(&TrainConfig::default_caption)},
      {"trigger", field(&TrainConfig::trigger)},
      {"trigger_template", field(&TrainConfig::trigger_template)},
      {"resolution", field(&TrainConfig::resolution)},
      {"bucket_step", field(&TrainConfig::bucket_step)},
      {"min_bucket", field(&TrainConfig::min_bucket)},
      {"max_bucket", field(&TrainConfig::max_bucket)},
      {"held_out", field(&TrainConfig::held_out)},
      {"center_crop", field(&TrainConfig::center_crop)},
      {"random_flip", field(&TrainConfig::random_flip)},
      {"buckets", field(&TrainConfig::buckets)},
      {"repeats", field(&TrainConfig::repeats)},
      {"seed", field(&TrainConfig::seed)},
      {"rank", field(&TrainConfig::rank)},
      {"alpha", field(&TrainConfig::alpha)},
      {"dropout", field(&TrainConfig::dropout)},
      {"unet_targets", field(&TrainConfig::unet_targets)},
      {"train_text_encoder", field(&TrainConfig::train_text_encoder)},
      {"text_encoder_targets", field(&TrainConfig::text_encoder_targets)},
      {"pivotal", field(&TrainConfig::pivotal)},
      {"token_abstraction", field(&TrainConfig::token_abstraction)},
      {"initializer_concept", field(&TrainConfig::initializer_concept)},
      {"tokens_per_abstraction", field(&TrainConfig::tokens_per_abstraction)},
      {"ti_frac", field(&TrainConfig::ti_frac)},
      {"full", field(&TrainConfig::full)},
      {"stage", enum_field(&TrainConfig::stage)},
      {"ema_decay", field(&TrainConfig::ema_decay)},
      {"caption_dropout", field(&TrainConfig::caption_dropout)},
      {"kl_weight", field(&TrainConfig::kl_weight)},
      {"save_dtype", field(&TrainConfig::save_dtype)},
      {"distill", enum_field(&TrainConfig::distill)},
      {"lcm_original_steps", field(&TrainConfig::lcm_original_steps)},
      {"lcm_guidance", field(&TrainConfig::lcm_guidance)},
      {"huber_c", field(&TrainConfig::huber_c)},
      {"optimizer", enum_field(&TrainConfig::optimizer)},
      {"lr_scheduler", field(&TrainConfig::lr_scheduler)},
      {"lr", field(&TrainConfig::lr)},
      {"text_encoder_lr", field(&TrainConfig::text_encoder_lr)},
      {"weight_decay", field(&TrainConfig::weight_decay)},
      {"text_encoder_weight_decay", field(&TrainConfig::text_encoder_weight_decay)},
      {"adam_beta1", field(&TrainConfig::adam_beta1)},
      {"adam_beta2", field(&TrainConfig::adam_beta2)},
      {"adam_epsilon", field(&TrainConfig::adam_epsilon)},
      {"prodigy_d0", field(&TrainConfig::prodigy_d0)},
      {"prodigy_d_coef", field(&TrainConfig::prodigy_d_coef)},
      {"prodigy_growth_rate", field(&TrainConfig::prodigy_growth_rate)},
      {"prodigy_beta3", field(&TrainConfig::prodigy_beta3)},
      {"prodigy_use_bias_correction", field(&TrainConfig::prodigy_use_bias_correction)},
      {"prodigy_safeguard_warmup", field(&TrainConfig::prodigy_safeguard_warmup)},
      {"prodigy_decouple", field(&TrainConfig::prodigy_decouple)},
      {"lr_warmup_steps", field(&TrainConfig::lr_warmup_steps)},
      {"max_train_steps", field(&TrainConfig::max_train_steps)},
      {"batch_size", field(&TrainConfig::batch_size)},
      {"gradient_accumulation_steps", field(&TrainConfig::gradient_accumulation_steps)},
      {"max_grad_norm", field(&TrainConfig::max_grad_norm)},
      {"snr_gamma", field(&TrainConfig::snr_gamma)},
      {"noise_offset", field(&TrainConfig::noise_offset)},
      {"gradient_checkpointing", field(&TrainConfig::gradient_checkpointing)},
      {"base_dtype", field(&TrainConfig::base_dtype)},
      {"cache_latents", field(&TrainConfig::cache_latents)},
      {"cache_text_embeddings", field(&TrainConfig::cache_text_embeddings)},
      {"prediction_type", field(&TrainConfig::prediction_type)},
      {"checkpoint_every", field(&TrainConfig::checkpoint_every)},
      {"keep_checkpoints", field(&TrainConfig::keep_checkpoints)},
      {"validation_every", field(&TrainConfig::validation_every)},
      {"validation_steps", field(&TrainConfig::validation_steps)},
      {"log_every", field(&TrainConfig::log_every)},
      {"validation_prompts", field(&TrainConfig::validation_prompts)},
      {"validation_seeds", field(&TrainConfig::validation_seeds)},
      {"validation_cfg", field(&TrainConfig::validation_cfg)},
      {"validation_sampler", field(&TrainConfig::validation_sampler)},
  };
  return f;
}

}  // namespace

const char* name_of(TrainStage v) { return EnumNames<TrainStage>::names.at(static_cast<size_t>(v)); }
const char* name_of(OptimizerKind v) { return EnumNames<OptimizerKind>::names.at(static_cast<size_t>(v)); }
const char* name_of(MixedPrecision v) { return EnumNames<MixedPrecision>::names.at(static_cast<size_t>(v)); }
const char* name_of(Distillation v) { return EnumNames<Distillation>::names.at(static_cast<size_t>(v)); }

Json TrainConfig::to_json() const {
  Json j = Json::object();
  for (const auto& [name, f] : fields()) j[name] = f.get(*this);
  return j;
}

void TrainConfig::apply_json(const Json& json, const std::string& source) {
  if (!json.is_object()) fail(source, ": a training config is a JSON object");
  for (const auto& [name, value] : json.items()) {
    const auto it = fields().find(name);
    if (it == fields().end()) fail(source, ": unknown option \"", name, "\"");
    try {
      it->second.set(*this, value);
    } catch (const UnknownName& e) {
      fail(source, ": option \"", name, "\": ", e.what());
    } catch (const Json::exception&) {
      fail(source, ": option \"", name, "\" has the wrong type (", value.dump(), "); default is ",
           it->second.get(TrainConfig{}).dump());
    }
  }
}

void TrainConfig::resolve() {
  auto need = [](bool ok, const char* what) {
    if (!ok) fail("training config: ", what);
  };
  need(!model.empty(), "\"model\" (the base model) is required");
  need(!data.empty(), "\"data\" (an image folder or metadata.jsonl) is required");
  need(!output_dir.empty(), "\"output_dir\" is required");
  need(!name.empty() && name.find('/') == std::string::npos, "\"name\" must be a plain file name");
  need(rank >= 1, "\"rank\" must be at least 1");
  need(alpha >= 0, "\"alpha\" must be >= 0");
  need(dropout >= 0 && dropout < 1, "\"dropout\" must be in [0, 1)");
  need(max_train_steps >= 1, "\"max_train_steps\" must be at least 1");
  need(batch_size >= 1, "\"batch_size\" must be at least 1");
  need(gradient_accumulation_steps >= 1, "\"gradient_accumulation_steps\" must be at least 1");
  need(ti_frac >= 0 && ti_frac <= 1, "\"ti_frac\" must be in [0, 1]");
  need(tokens_per_abstraction >= 1, "\"tokens_per_abstraction\" must be at least 1");
  need(lr_scheduler == "constant" || lr_scheduler == "cosine" || lr_scheduler == "linear" ||
           lr_scheduler == "constant_with_warmup",
       "\"lr_scheduler\" must be constant, constant_with_warmup, cosine or linear");
  need(lr > 0, "\"lr\" must be positive");
  need(prediction_type.empty() || prediction_type == "epsilon" || prediction_type == "v_prediction",
       "\"prediction_type\" must be epsilon or v_prediction");
  need(checkpoint_every >= 1, "\"checkpoint_every\" must be at least 1");
  need(keep_checkpoints >= 0, "\"keep_checkpoints\" must be >= 0 (0 keeps all)");
  need(!validation_seeds.empty(), "\"validation_seeds\" must not be empty");
  need(snr_gamma >= 0 && noise_offset >= 0, "\"snr_gamma\" and \"noise_offset\" must be >= 0");
  need(full || stage == TrainStage::kUNet, "\"stage\": the autoencoder stages need \"full\" (it has no LoRA training)");
  need(!(full && pivotal), "\"pivotal\" and \"full\" exclude each other (full training learns every token row)");
  need(caption_dropout >= 0 && caption_dropout < 1, "\"caption_dropout\" must be in [0, 1)");
  need(ema_decay < 1, "\"ema_decay\" must be below 1");
  need(kl_weight >= 0, "\"kl_weight\" must be >= 0");
  need(save_dtype == "fp32" || save_dtype == "fp16" || save_dtype == "bf16", "\"save_dtype\" must be fp32, fp16 or bf16");
  need(base_dtype == "fp32" || base_dtype == "bf16" || base_dtype == "fp16", "\"base_dtype\" must be fp32, bf16 or fp16");
  need(!full || base_dtype == "fp32",
       "\"base_dtype\" must be fp32 with \"full\" (full training trains the base weights; use mixed_precision)");
  need(distill == Distillation::kNone || (!full && !pivotal && !train_text_encoder),
       "\"distill\": distillation trains a LoRA on the UNet alone (no full, pivotal or train_text_encoder)");
  need(distill == Distillation::kNone || cache_text_embeddings,
       "\"distill\" needs cache_text_embeddings (the teacher's unconditional half reads the cached empty prompt)");
  need(lcm_original_steps >= 1 && lcm_guidance >= 1 && huber_c > 0,
       "\"lcm_original_steps\" must be >= 1, \"lcm_guidance\" >= 1 and \"huber_c\" > 0");
  if (ema_decay < 0) ema_decay = full ? 0.999 : distill != Distillation::kNone ? 0.95 : 0.0;
  if (alpha == 0) alpha = static_cast<double>(rank);
  // Prodigy wants every group at the same lr (or 0): with pivotal tuning the embeddings follow the UNet's lr
  // unless set, where the reference script crashes with its default text-encoder lr.
  if (text_encoder_lr < 0) text_encoder_lr = optimizer == OptimizerKind::kProdigy ? lr : 5e-6;
  if (text_encoder_weight_decay < 0) text_encoder_weight_decay = weight_decay;
  if (validation_every <= 0) validation_every = checkpoint_every;
  if (pivotal && trigger.empty()) trigger = token_abstraction;
}

std::string TrainConfig::pivotal_tokens() const {
  std::string tokens;
  if (pivotal)
    for (int64_t i = 0; i < tokens_per_abstraction; ++i) tokens += "<s" + std::to_string(i) + ">";
  return tokens;
}

std::string TrainConfig::expand_abstraction(std::string text) const {
  if (!pivotal || token_abstraction.empty()) return text;
  const auto tokens = pivotal_tokens();
  for (size_t at = 0; (at = text.find(token_abstraction, at)) != std::string::npos; at += tokens.size())
    text.replace(at, token_abstraction.size(), tokens);
  return text;
}

DatasetOptions TrainConfig::dataset_options() const {
  DatasetOptions d;
  d.path = data;
  d.caption_ext = caption_ext;
  d.default_caption = default_caption;
  d.trigger = trigger;
  d.trigger_template = trigger_template;
  d.resolution = resolution;
  d.center_crop = center_crop;
  d.random_flip = random_flip;
  d.buckets = buckets;
  d.bucket_step = bucket_step;
  d.min_bucket = min_bucket;
  d.max_bucket = max_bucket;
  d.repeats = repeats;
  d.held_out = held_out;
  d.seed = seed;
  return d;
}

TrainConfig train_preset(const std::string& name) {
  TrainConfig c;
  if (name == "default" || name.empty()) return c;
  if (name == "ready") {
    c.pivotal = true;
    c.rank = 16;
    c.lr = 7e-5;
    c.text_encoder_lr = 2e-4;
    c.ti_frac = 0.3;
    c.max_train_steps = 2200;
    c.optimizer = OptimizerKind::kAdamW;
    c.random_flip = true;
    c.buckets = true;
    c.checkpoint_every = 200;
    c.snr_gamma = 5.0;
    c.gradient_checkpointing = true;
    c.base_dtype = "bf16";
    return c;
  }
  fail("unknown preset \"", name, "\" (known: default, ready)");
}

}  // namespace prtkl
