#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "adapters/embeddings.h"
#include "adapters/lora.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/torch_compat.h"
#include "diffusion/ddpm_noise.h"
#include "diffusion/model_loader.h"
#include "diffusion/model_save.h"
#include "diffusion/pipeline.h"
#include "dist/process_group.h"
#include "train/dataset.h"
#include "train/lora_injection.h"
#include "train/loss_log.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFile = "training_state.safetensors";
constexpr const char* kLoraFile = "pytorch_lora_weights.safetensors";

// A sample's cached inputs: its latent distribution and, when the text encoders are frozen, its embeddings.
struct CachedSample {
  torch::Tensor mean, std;     // [4, h, w], before the scaling factor; undefined without cache_latents
  std::string caption;         // with the pivotal tokens
  PromptTokens tokens;         // exactly as inference tokenizes the caption
  PromptEmbeddings embeddings;  // cached only when nothing in the text path trains
  torch::Tensor time_ids;      // SDXL [6]: original size, crop top-left, target size
  torch::Tensor pixels;        // VAE stage or no cache_latents: [3, H, W] in [-1, 1]
  std::vector<int64_t> latent_size;  // [C, h, w] of its latent, cached or not
  std::pair<int64_t, int64_t> bucket;
};

std::string checkpoint_name(int64_t step) { return "checkpoint-" + std::to_string(step); }

int64_t checkpoint_step(const fs::path& dir) {
  const auto name = dir.filename().string();
  if (name.rfind("checkpoint-", 0) != 0) return -1;
  const auto digits = name.substr(11);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

struct Trainer::State {
  TrainConfig c;
  StableDiffusionModel model;
  std::unique_ptr<DDPMNoiseSchedule> ddpm;
  std::string prediction_type;
  Dataset data;
  std::vector<CachedSample> train, held_out;
  InjectedLora unet_lora, te_lora, te2_lora;
  bool has_te_lora = false;
  torch::Tensor rows_l, rows_g;        // the trainable new token rows (pivotal)
  std::vector<torch::Tensor> full_params, ema;  // full training: the module weights and their EMA
  double latent_scale = 1.0;                    // the VAE's scaling factor (the VAE may be freed for the steps)
  // Cached text embeddings: the empty prompt's (caption dropout, padding to a batch's chunk count) and the
  // validation prompts', so the text encoders need not stay for the steps.
  PromptEmbeddings empty_text;
  std::vector<EncodedPrompts> validation_text;
  std::unique_ptr<Optimizer> optimizer;
  std::vector<double> base_lrs;
  at::Generator gen = at::detail::createCPUGenerator(0);  // noise, timesteps, latent samples
  int64_t step = 0;                                       // optimizer steps done
  int64_t ti_steps = 0;                                   // optimizer steps with trainable token rows
  std::unique_ptr<LossLog> log;
  std::string last_checkpoint;
  TrainCallbacks cb;
  // Data parallel (dist/process_group.h): every rank holds the same model and draws the same random numbers; a
  // global batch is batch_size × world samples, of which this rank computes its own batch_size, and the summed
  // gradients make every rank take the same step. Rank 0 alone writes.
  std::shared_ptr<ProcessGroup> group;
  int rank = 0, world = 1;
  bool writer() const { return rank == 0; }

  bool text_path_trains(bool ti_frozen) const {
    return has_te_lora || (c.pivotal && !ti_frozen) || (c.full && c.train_text_encoder);
  }
  // Both autoencoder stages train on pixels; the decoder stage keeps the encoder (and so the latents) as it is.
  bool vae_stage() const { return c.full && (c.stage == "vae" || decoder_stage()); }
  bool decoder_stage() const { return c.full && c.stage == "vae_decoder"; }
  // With every latent cached the VAE is freed for the steps and read back only for validation images (full
  // training keeps it: it is saved with the model).
  bool vae_freed() const { return c.cache_latents && !c.full; }
  GenerateParams validation_params(const std::string& prompt, uint64_t seed) const {
    GenerateParams gp;
    gp.prompt = c.expand_abstraction(prompt);
    gp.seed = seed;
    gp.steps = c.validation_steps;
    gp.guidance_scale = c.validation_cfg;
    gp.sampler = c.validation_sampler;
    return gp;
  }
  void say(const std::string& line) const {
    if (cb.log) cb.log(line);
  }

  // The batches of epoch `e`: a seeded shuffle, grouped so that a batch never mixes buckets.
  std::vector<std::vector<size_t>> epoch_batches(int64_t e) const {
    std::vector<size_t> order(train.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(c.seed * 1000003ull + static_cast<uint64_t>(e));
    std::shuffle(order.begin(), order.end(), rng);
    std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> open;
    std::vector<std::vector<size_t>> batches;
    for (size_t i : order) {
      auto& b = open[train[i].bucket];
      b.push_back(i);
      if (static_cast<int64_t>(b.size()) == c.batch_size * world) batches.push_back(std::move(b)), b.clear();
    }
    for (auto& [_, b] : open)
      if (!b.empty()) batches.push_back(b);
    return batches;
  }

  std::vector<torch::Tensor> trainable() const {
    if (c.full) return full_params;
    std::vector<torch::Tensor> p = unet_lora.parameters();
    for (const auto* l : {&te_lora, &te2_lora})
      for (const auto& t : l->parameters()) p.push_back(t);
    if (rows_l.defined()) p.push_back(rows_l);
    if (rows_g.defined()) p.push_back(rows_g);
    return p;
  }

  // The tensors that get a gradient in a step: the same list on every rank, also one whose share of the batch is
  // empty. Token rows get one while they train, and after the pivot still when a text-encoder LoRA trains.
  std::vector<torch::Tensor> gradient_receivers(bool ti_frozen) const {
    std::vector<torch::Tensor> out;
    for (const auto& p : trainable())
      if (!(ti_frozen && !has_te_lora && (p.is_same(rows_l) || p.is_same(rows_g)))) out.push_back(p);
    return out;
  }

  PromptEmbeddings encode(const CachedSample& s, bool grad) const {
    if (s.embeddings.prompt_embeds.defined() && !grad) return s.embeddings;
    std::optional<torch::NoGradGuard> no_grad;
    if (!grad) no_grad.emplace();
    return encode_tokens(model, s.tokens);
  }

  // `e` with empty-prompt chunks appended up to `chunks` (what tokenize_prompt's padding encodes to); the pooled
  // embedding comes from the first chunk and stays.
  PromptEmbeddings pad_with_empty(const PromptEmbeddings& e, size_t chunks) const {
    const int64_t window = empty_text.prompt_embeds.size(1);
    std::vector<torch::Tensor> parts{e.prompt_embeds};
    for (int64_t n = e.prompt_embeds.size(1) / window; n < static_cast<int64_t>(chunks); ++n)
      parts.push_back(empty_text.prompt_embeds);
    return {torch::cat(parts, 1), e.pooled_prompt_embeds};
  }

  // EMA as diffusers' EMAModel with its warmup: decay min(ema_decay, (1 + step) / (10 + step)).
  void update_ema() {
    if (ema.empty()) return;
    torch::NoGradGuard no_grad;
    const double d = std::min(c.ema_decay, (1.0 + double(step)) / (10.0 + double(step)));
    for (size_t i = 0; i < ema.size(); ++i) ema[i].mul_(d).add_(full_params[i].detach(), 1.0 - d);
  }
  // Runs `f` with the EMA weights in the modules (validation and saved models use them), then puts back the
  // trained weights.
  template <typename F>
  auto with_ema(F&& f) {
    auto swap = [&] {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < ema.size(); ++i) {
        auto held = full_params[i].detach().clone();
        full_params[i].detach().copy_(ema[i]);
        ema[i].copy_(held);
      }
    };
    swap();
    struct Restore {
      decltype(swap)& s;
      ~Restore() { s(); }
    } restore{swap};
    return f();
  }

  // The VAE stage's latent scale: 1 / std of latents sampled from (up to) 256 training images, as SD chose its
  // 0.18215, so the UNet sees latents of unit variance.
  double latent_scaling() {
    torch::NoGradGuard no_grad;
    at::Generator g = at::detail::createCPUGenerator(c.seed + 999);
    std::vector<torch::Tensor> z;
    const size_t n = std::min<size_t>(256, train.size());
    for (size_t i = 0; i < n; i += 32) {
      std::vector<torch::Tensor> px;
      for (size_t j = i; j < std::min(n, i + 32); ++j) px.push_back(train[j].pixels);
      z.push_back(model.vae->encode(torch::stack(px).to(model.device, model.dtype)).sample(g).to(torch::kFloat32).cpu());
    }
    return 1.0 / torch::cat(z).std().item<double>();
  }

  // VAE stage: L1 reconstruction of a sampled latent plus the KL term to N(0, I) (summed per image as diffusers
  // and the LDM autoencoder do, then averaged over the batch).
  torch::Tensor vae_loss(const std::vector<const CachedSample*>& batch, at::Generator& g) const {
    std::vector<torch::Tensor> px;
    for (const auto* s : batch) px.push_back(s->pixels);
    const auto x = torch::stack(px).to(model.device, model.dtype);
    auto vae = model.vae;
    const auto dist = vae->encode(x);  // in the decoder stage its weights are frozen: no graph is recorded
    const auto rec = vae->decode(dist.sample(g));
    const auto l1 = torch::l1_loss(rec.to(torch::kFloat32), x.to(torch::kFloat32));
    if (decoder_stage()) return l1;  // the KL term depends on the encoder alone
    // In fp32 under autocast too: a bf16 sum over the latent would keep 3 significant digits.
    const auto mean = dist.mean.to(torch::kFloat32), logvar = dist.logvar.to(torch::kFloat32);
    const auto kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum({1, 2, 3}).mean();
    return l1 + c.kl_weight * kl;
  }

  // Loss of one batch (mean over the batch, min-SNR weighted when asked). Data parallel, a rank computes the
  // samples [lo, hi) of the global batch and returns their share of its mean (sum / batch size), so the ranks'
  // gradients add up to the whole batch's; every random number of the whole batch is drawn all the same, as one
  // process would. Undefined when the share is empty.
  torch::Tensor batch_loss(const std::vector<const CachedSample*>& batch, at::Generator& g, bool ti_frozen, bool grad,
                           size_t lo = 0, size_t hi = SIZE_MAX) const {
    const auto dev = model.device;
    // Mixed precision: matmuls and convolutions in bf16/fp16, weights, LoRA and the loss in fp32.
    AutocastGuard autocast(dev.type(), c.mixed_precision == "fp16" ? torch::kHalf : torch::kBFloat16,
                           c.mixed_precision != "no");
    if (vae_stage()) return vae_loss(batch, g);
    hi = std::min(hi, batch.size());
    lo = std::min(lo, hi);
    std::vector<torch::Tensor> latents, contexts, pooled, time_ids;
    std::vector<CachedSample> inputs;  // each sample's text input, padded to the batch's chunk count
    size_t chunks = 0;
    for (const auto* s : batch) chunks = std::max(chunks, s->tokens.one.size());
    std::vector<torch::Tensor> means(batch.size()), stds(batch.size());  // cached, or encoded now (own share)
    if (!c.cache_latents && lo < hi) {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> px;
      for (size_t i = lo; i < hi; ++i) px.push_back(batch[i]->pixels);
      auto vae = model.vae;  // the holder: forward is not const
      const auto dist = vae->encode(torch::stack(px).to(dev, torch::kFloat32));
      for (size_t i = lo; i < hi; ++i) {
        means[i] = dist.mean[i - lo].to(torch::kFloat32);
        stds[i] = dist.std[i - lo].to(torch::kFloat32);
      }
    } else if (c.cache_latents) {
      for (size_t i = 0; i < batch.size(); ++i) means[i] = batch[i]->mean, stds[i] = batch[i]->std;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto* s = batch[i];
      auto noise = torch::randn(s->latent_size, g, torch::kFloat32).to(dev);
      const bool mine = i >= lo && i < hi;
      if (mine) latents.push_back((means[i] + stds[i] * noise) * latent_scale);
      CachedSample padded = *s;
      // Caption dropout (training steps only): the empty prompt, so the model also learns the unconditional
      // prediction that classifier-free guidance subtracts.
      const bool drop = grad && c.caption_dropout > 0 && torch::rand({1}, g).item<double>() < c.caption_dropout;
      if (!mine) continue;
      if (drop) padded.caption.clear();
      if (drop || s->tokens.one.size() < chunks) {  // captions with different chunk counts: pad as inference
        if (empty_text.prompt_embeds.defined()) {  // from the cache: the encoders run each chunk on its own
          padded.embeddings = pad_with_empty(drop ? empty_text : s->embeddings, chunks);
        } else {
          padded.tokens = tokenize_prompt(model, padded.caption, chunks);
          padded.embeddings = {};
        }
      }
      inputs.push_back(std::move(padded));
      if (s->time_ids.defined()) time_ids.push_back(s->time_ids.unsqueeze(0));
    }
    // Noise, noisy latents and targets in fp32; the UNet reads its input in the base weights' dtype.
    const int64_t B = static_cast<int64_t>(batch.size()), n = static_cast<int64_t>(hi - lo);
    auto shape = batch[0]->latent_size;
    shape.insert(shape.begin(), B);
    auto noise = torch::randn(shape, g, torch::kFloat32);
    if (c.noise_offset > 0) noise = noise + c.noise_offset * torch::randn({B, shape[1], 1, 1}, g, torch::kFloat32);
    auto t = torch::randint(0, ddpm->num_train_timesteps(), {B}, g, torch::TensorOptions(torch::kInt64));
    if (n == 0) return {};
    noise = noise.narrow(0, static_cast<int64_t>(lo), n).to(dev);
    t = t.narrow(0, static_cast<int64_t>(lo), n).to(dev);
    const bool text_grad = grad && text_path_trains(ti_frozen);
    if (text_grad && model.family == ModelFamily::SD15) {
      // A training text encoder runs once over the whole batch (every sample's chunks as rows), not per sample.
      PromptTokens all;
      for (const auto& in : inputs) all.one.insert(all.one.end(), in.tokens.one.begin(), in.tokens.one.end());
      const auto e = encode_tokens(model, all).prompt_embeds;  // [1, B·window·chunks, D]
      contexts.push_back(e.reshape({static_cast<int64_t>(inputs.size()), -1, e.size(-1)}));
    } else {
      for (const auto& in : inputs) {
        const auto e = encode(in, text_grad);
        contexts.push_back(e.prompt_embeds);
        if (e.pooled_prompt_embeds.defined()) pooled.push_back(e.pooled_prompt_embeds);
      }
    }
    const auto x0 = torch::stack(latents);
    const auto noisy = ddpm->add_noise(x0, noise, t);
    const auto target = prediction_type == "v_prediction" ? ddpm->get_velocity(x0, noise, t) : noise;
    auto unet = model.unet;  // the holder: forward is not const
    const auto pred = unet->forward(noisy.to(model.dtype), t, torch::cat(contexts).to(model.dtype),
                                          pooled.empty() ? torch::Tensor() : torch::cat(pooled).to(model.dtype),
                                          time_ids.empty() ? torch::Tensor() : torch::cat(time_ids).to(dev, model.dtype));
    const bool whole = n == B;
    if (c.snr_gamma <= 0 && whole) return torch::mse_loss(pred.to(torch::kFloat32), target.to(torch::kFloat32));
    auto per_sample = (pred.to(torch::kFloat32) - target.to(torch::kFloat32)).pow(2).mean({1, 2, 3});
    if (c.snr_gamma > 0) {
      // Min-SNR-γ (Hang et al. 2023) as diffusers weights it: min(SNR, γ)/SNR, plus 1 for v-prediction.
      const auto acp = ddpm->alphas_cumprod().to(dev).index_select(0, t).to(torch::kFloat32);
      const auto snr = acp / (1 - acp);
      auto w = torch::clamp_max(snr, c.snr_gamma) / snr;
      if (prediction_type == "v_prediction") w = w + 1;
      per_sample = per_sample * w;
    }
    return whole ? per_sample.mean() : per_sample.sum() / static_cast<double>(B);
  }
};

Trainer::~Trainer() = default;
const TrainConfig& Trainer::config() const { return s_->c; }
StableDiffusionModel& Trainer::model() { return s_->model; }

double Trainer::fixed_noise_loss() {
  auto& s = *s_;
  torch::NoGradGuard no_grad;
  s.model.unet->eval();
  at::Generator g = at::detail::createCPUGenerator(s.c.seed + 54321);
  double total = 0;
  for (const auto& sample : s.train) total += s.batch_loss({&sample}, g, true, false).item<double>();
  s.model.unet->train();
  return total / double(s.train.size());
}

std::string Trainer::find_checkpoint(const std::string& output_dir, const std::string& resume) {
  if (resume.empty()) return "";
  if (resume != "latest") {
    if (!fs::exists(fs::path(resume) / "state.json")) fail(resume, ": not a training checkpoint (no state.json)");
    return resume;
  }
  std::string best;
  int64_t best_step = -1;
  if (!fs::exists(output_dir)) return "";
  for (const auto& e : fs::directory_iterator(output_dir)) {
    const auto step = checkpoint_step(e.path());
    if (step > best_step && fs::exists(e.path() / "state.json")) best_step = step, best = e.path().string();
  }
  return best;
}

Trainer::Trainer(TrainConfig config, std::shared_ptr<ProcessGroup> group) : s_(std::make_unique<State>()) {
  auto& s = *s_;
  s.c = std::move(config);
  auto& c = s.c;
  c.resolve();
  if (group) {
    s.group = std::move(group);
    s.rank = s.group->rank();
    s.world = s.group->world_size();
    if (s.vae_stage()) fail("the VAE stages train in one process (prtkl train without launch)");
  }
  LoadOptions lo;
  lo.device = parse_device(c.device);
  if (c.mixed_precision == "fp16" && !lo.device.is_cuda())
    fail("mixed_precision fp16 needs a CUDA device; on the CPU use bf16");
  if (c.base_dtype == "fp16" && !lo.device.is_cuda()) fail("base_dtype fp16 needs a CUDA device; on the CPU use bf16");
  lo.dtype = parse_storage_dtype(c.base_dtype);
  lo.vae_dtype = torch::kFloat32;  // latents are encoded in fp32 whatever the base weights' dtype
  // With the latents cached, the UNet is read only once they are: the VAE's activations (6.5 GiB for one SDXL
  // picture at 1024² in fp32) and the UNet (4.8 GiB in bf16) are then never resident together.
  const bool encode_now = !s.vae_stage() && c.cache_latents;
  if (encode_now) lo.deferred = {Component::UNet};
  s.model = load_model(c.model, lo);
  auto& m = s.model;
  s.latent_scale = m.vae->scaling_factor();
  if (c.full && m.family != ModelFamily::SD15) fail(c.model, ": full training supports the SD 1.x layout only");
  const auto freeze = [](const auto& module) {
    if (module)
      for (auto& p : module->parameters()) p.set_requires_grad(false);
  };
  freeze(m.unet);
  freeze(m.vae);
  freeze(m.text_encoder);
  freeze(m.text_encoder_2);
  s.ddpm = std::make_unique<DDPMNoiseSchedule>(m.scheduler_config);
  s.prediction_type = c.prediction_type.empty() ? s.ddpm->prediction_type() : c.prediction_type;
  if (c.resolution == 0) c.resolution = m.unet_config.get<int64_t>("sample_size") * StableDiffusionPipeline(m).vae_scale_factor();

  // Textual inversion: new tokens <s0>… for the abstraction, added through the embedding loader (the same path
  // inference takes), then their rows become the only trainable part of the text encoders.
  if (c.pivotal) {
    at::Generator init_gen = at::detail::createCPUGenerator(c.seed + 7);
    auto init_rows = [&](ClipTextModel& enc, const ClipTokenizer& tok) {
      torch::NoGradGuard no_grad;
      const auto table = enc->token_embedding()->weight.to(torch::kFloat32).cpu();
      if (!c.initializer_concept.empty()) {  // copy the concept's token rows, cyclically
        auto ids = tok.encode(c.initializer_concept);
        ids = std::vector<int64_t>(ids.begin() + 1, ids.end() - 1);  // without bos/eos
        if (ids.empty()) fail("initializer_concept \"", c.initializer_concept, "\" has no tokens");
        std::vector<torch::Tensor> rows;
        for (int64_t i = 0; i < c.tokens_per_abstraction; ++i) rows.push_back(table[ids[i % ids.size()]]);
        return torch::stack(rows);
      }
      return torch::randn({c.tokens_per_abstraction, table.size(1)}, init_gen) * table.std();
    };
    TensorMap init{{"clip_l", init_rows(m.text_encoder, *m.tokenizer)}};
    if (m.text_encoder_2) init["clip_g"] = init_rows(m.text_encoder_2, *m.tokenizer_2);
    // Rank 0 keeps the initial rows in the run folder; the other ranks load theirs from a file of their own.
    const auto init_path = s.writer() ? (fs::path(c.output_dir) / (c.name + "_emb_init.safetensors")).string()
                                      : (fs::temp_directory_path() / ("prtkl-" + std::to_string(::getpid()) + "-rank" +
                                                                      std::to_string(s.rank) + "_emb_init.safetensors")).string();
    fs::create_directories(fs::path(init_path).parent_path());
    save_safetensors(init_path, init, {{"prtkl.note", "initial token rows of this run"}});
    load_embeddings(m, init_path);
    if (!s.writer()) fs::remove(init_path);
    auto take_rows = [&](ClipTextModel& enc) {
      auto rows = enc->token_embedding()->weight.narrow(0, enc->token_embedding()->weight.size(0) - c.tokens_per_abstraction,
                                                        c.tokens_per_abstraction);
      auto leaf = rows.detach().to(torch::kFloat32).clone().set_requires_grad(true);
      enc->set_token_rows(leaf);
      return leaf;
    };
    s.rows_l = take_rows(m.text_encoder);
    if (m.text_encoder_2) s.rows_g = take_rows(m.text_encoder_2);
    s.ti_steps = static_cast<int64_t>(std::llround(c.ti_frac * double(c.max_train_steps)));
    // Captions say TOK; the model reads <s0><s1>.
    s.say("pivotal tuning: " + c.token_abstraction + " -> " + c.pivotal_tokens() + ", token rows train for " +
          std::to_string(s.ti_steps) + " of " + std::to_string(c.max_train_steps) + " steps");
  }

  DatasetOptions d;
  d.path = c.data;
  d.caption_ext = c.caption_ext;
  d.default_caption = c.default_caption;
  d.trigger = c.trigger;  // resolve() made it the token abstraction for pivotal runs
  d.trigger_template = c.trigger_template;
  d.resolution = c.resolution;
  d.center_crop = c.center_crop;
  d.random_flip = c.random_flip;
  d.buckets = c.buckets;
  d.bucket_step = c.bucket_step;
  d.min_bucket = c.min_bucket;
  d.max_bucket = c.max_bucket;
  d.repeats = c.repeats;
  d.held_out = c.held_out;
  d.seed = c.seed;
  s.data = load_dataset(d);
  s.has_te_lora = !c.full && c.train_text_encoder;  // before caching: the text cache is off when it trains

  // Cache: latent distributions per sample (in the sample's own slot, so shuffling never separates a latent
  // from its caption) and, when the text path is frozen for the whole run, the prompt embeddings.
  const bool cache_text = c.cache_text_embeddings && !s.text_path_trains(false);
  auto cache = [&](const Sample& sample, const LatentDistribution& dist, int64_t row) {
    torch::NoGradGuard no_grad;
    CachedSample cs;
    cs.bucket = {sample.pixels.size(1), sample.pixels.size(2)};
    if (!encode_now) cs.pixels = sample.pixels;  // encoded each step (or, VAE stage, the training target)
    if (s.vae_stage()) return cs;
    const int64_t f = StableDiffusionPipeline(m).vae_scale_factor();
    cs.latent_size = {m.vae_config.get<int64_t>("latent_channels"), cs.bucket.first / f, cs.bucket.second / f};
    if (encode_now) {
      cs.mean = dist.mean[row].to(torch::kFloat32);
      cs.std = dist.std[row].to(torch::kFloat32);
    }
    cs.caption = c.expand_abstraction(sample.caption);
    cs.tokens = tokenize_prompt(m, cs.caption);
    if (m.family == ModelFamily::SDXL)
      cs.time_ids = torch::tensor({float(sample.original_h), float(sample.original_w), float(sample.crop_top),
                                   float(sample.crop_left), float(cs.bucket.first), float(cs.bucket.second)});
    return cs;
  };
  // The VAE encodes runs of same-size images at once, up to 32 and 2^17 pixels: small images cost mostly call
  // overhead (32 at 64x64 per call), large ones activations (at 512x512 four at once held 3 GiB: one at a time).
  auto cache_all = [&](const std::vector<Sample>& samples, std::vector<CachedSample>& out) {
    for (size_t i = 0; i < samples.size();) {
      const int64_t pixels = samples[i].pixels.size(-1) * samples[i].pixels.size(-2);
      const size_t run = static_cast<size_t>(std::clamp<int64_t>((int64_t(1) << 17) / pixels, 1, 32));
      size_t j = i + 1;
      while (j < samples.size() && j - i < run && samples[j].pixels.sizes() == samples[i].pixels.sizes()) ++j;
      LatentDistribution dist;
      if (encode_now) {
        torch::NoGradGuard no_grad;
        std::vector<torch::Tensor> px;
        for (size_t k = i; k < j; ++k) px.push_back(samples[k].pixels);
        dist = m.vae->encode(torch::stack(px).to(m.device, torch::kFloat32));
      }
      for (size_t k = i; k < j; ++k) out.push_back(cache(samples[k], dist, static_cast<int64_t>(k - i)));
      i = j;
    }
  };
  cache_all(s.data.train, s.train);
  cache_all(s.data.held_out, s.held_out);
  // Caption embeddings 64 prompts of a chunk count at a time: one encoder call per sample kept the bundled
  // model's 10,624 captions loading for over 20 minutes beside a compiler (small matmuls, mostly thread hand-offs).
  auto cache_text_embeddings = [&](std::vector<CachedSample>& samples) {
    torch::NoGradGuard no_grad;
    std::map<size_t, std::vector<CachedSample*>> by_chunks;
    for (auto& cs : samples) by_chunks[cs.tokens.one.size()].push_back(&cs);
    for (auto& [chunks, group] : by_chunks)
      for (size_t i = 0; i < group.size(); i += 64) {
        const size_t end = std::min(group.size(), i + 64);
        std::vector<const PromptTokens*> tokens;
        for (size_t k = i; k < end; ++k) tokens.push_back(&group[k]->tokens);
        auto embeddings = encode_tokens(m, tokens);
        for (size_t k = i; k < end; ++k) group[k]->embeddings = std::move(embeddings[k - i]);
      }
  };
  if (cache_text && !s.vae_stage()) {
    cache_text_embeddings(s.train);
    cache_text_embeddings(s.held_out);
  }
  s.data.train.clear();  // the pixels are no longer needed
  s.data.held_out.clear();
  // With every latent cached, the VAE has nothing to do during the steps, and with every caption's embeddings
  // cached neither have the text encoders (full training keeps both: they are saved with the model).
  if (s.vae_freed()) release_component(m, Component::Vae);
  if (cache_text) {
    torch::NoGradGuard no_grad;
    s.empty_text = encode_tokens(m, tokenize_prompt(m, ""));
    StableDiffusionPipeline pipe(m);
    for (const auto& prompt : c.validation_prompts) s.validation_text.push_back(pipe.encode_prompts(s.validation_params(prompt, 0)));
    if (!c.full) {
      m.text_encoder = ClipTextModel(nullptr);
      m.text_encoder_2 = ClipTextModel(nullptr);
    }
  }
  if (!m.unet) {
    load_component(m, Component::UNet);
    freeze(m.unet);
  }

  // LoRA layers (PEFT init: A gaussian, B zero) from a generator of their own, so the data order and noise do
  // not depend on how many layers there are.
  std::vector<ParamGroup> groups;
  if (c.full) {  // every weight of the trained modules, with an EMA copy
    auto train_all = [&](std::vector<torch::Tensor> p) {
      for (auto& t : p) t.set_requires_grad(true);
      s.full_params.insert(s.full_params.end(), p.begin(), p.end());
      return p;
    };
    if (s.decoder_stage()) {  // post_quant_conv and the decoder: the encoder's latents stay what the UNet learned
      std::vector<torch::Tensor> decoder;
      for (const auto& p : m.vae->named_parameters())
        if (p.key().rfind("encoder.", 0) != 0 && p.key().rfind("quant_conv.", 0) != 0) decoder.push_back(p.value());
      groups.push_back({"vae_decoder", train_all(decoder), c.lr, c.weight_decay, false});
    } else if (s.vae_stage()) {
      groups.push_back({"vae", train_all(m.vae->parameters()), c.lr, c.weight_decay, false});
    } else {
      groups.push_back({"unet", train_all(m.unet->parameters()), c.lr, c.weight_decay, false});
      if (c.train_text_encoder)
        groups.push_back({"text_encoder", train_all(m.text_encoder->parameters()), c.text_encoder_lr,
                          c.text_encoder_weight_decay, false});
    }
    if (c.ema_decay > 0)
      for (const auto& p : s.full_params) s.ema.push_back(p.detach().clone());
  } else {
    at::Generator lora_gen = at::detail::createCPUGenerator(c.seed + 3);
    s.unet_lora = inject_lora(*m.unet, c.unet_targets, c.rank, c.alpha, c.dropout, lora_gen, "unet");
    if (c.train_text_encoder) {
      s.te_lora = inject_lora(*m.text_encoder, c.text_encoder_targets, c.rank, c.alpha, c.dropout, lora_gen,
                              "text_encoder");
      if (m.text_encoder_2)
        s.te2_lora = inject_lora(*m.text_encoder_2, c.text_encoder_targets, c.rank, c.alpha, c.dropout, lora_gen,
                                 "text_encoder_2");
    }
    groups.push_back({"unet", s.unet_lora.parameters(), c.lr, c.weight_decay, false});
  }
  if (s.has_te_lora) {
    auto p = s.te_lora.parameters();
    for (const auto& t : s.te2_lora.parameters()) p.push_back(t);
    groups.push_back({"text_encoder", p, c.text_encoder_lr, c.text_encoder_weight_decay, false});
  }
  if (c.pivotal) {
    std::vector<torch::Tensor> rows{s.rows_l};
    if (s.rows_g.defined()) rows.push_back(s.rows_g);
    groups.push_back({"embeddings", rows, c.text_encoder_lr, c.text_encoder_weight_decay, s.ti_steps == 0});
  }
  for (const auto& g : groups) s.base_lrs.push_back(g.lr);
  if (c.optimizer == "adamw") {
    s.optimizer = std::make_unique<AdamW>(groups, AdamWOptions{c.adam_beta1, c.adam_beta2, c.adam_epsilon});
  } else {
    ProdigyOptions po;
    po.beta1 = c.adam_beta1;
    po.beta2 = c.adam_beta2;
    po.beta3 = c.prodigy_beta3;
    po.eps = c.adam_epsilon;
    po.d0 = c.prodigy_d0;
    po.d_coef = c.prodigy_d_coef;
    if (c.prodigy_growth_rate > 0) po.growth_rate = c.prodigy_growth_rate;
    po.decouple = c.prodigy_decouple;
    po.use_bias_correction = c.prodigy_use_bias_correction;
    po.safeguard_warmup = c.prodigy_safeguard_warmup;
    s.optimizer = std::make_unique<Prodigy>(groups, po);
  }

  // The VAE and text encoders freed once everything is cached, and the encoders' activations, leave heap the steps
  // never need again, so hand it back (measured on SD 1.5 at 512², bf16 base: the steps ran at 6.9-8.0 GiB without
  // this, 3.1-4.4 GiB with it).
  release_freed_memory();
}

TrainResult Trainer::run(const TrainCallbacks& callbacks) {
  auto& s = *s_;
  auto& c = s.c;
  auto& m = s.model;
  s.cb = callbacks;
  if (s.writer()) {
    fs::create_directories(c.output_dir);
    for (const auto& e : fs::directory_iterator(c.output_dir))  // leftovers of a checkpoint write that was killed
      if (e.path().filename().string().find(".partial") != std::string::npos) fs::remove_all(e.path());
    for (const auto& skipped : s.data.skipped) s.say("skipped " + skipped);
  }

  s.gen.set_current_seed(c.seed);
  at::Generator default_gen = at::detail::getDefaultCPUGenerator();  // LoRA dropout draws from it
  default_gen.set_current_seed(c.seed + 1);
  int64_t micro = 0;  // batches consumed
  s.log = std::make_unique<LossLog>(c.output_dir);
  const auto resume_dir = find_checkpoint(c.output_dir, c.resume);
  if (!resume_dir.empty()) {
    const auto state = read_json_file((fs::path(resume_dir) / "state.json").string());
    auto tensors = SafeTensors::open((fs::path(resume_dir) / kStateFile).string()).all();
    auto params = s.trainable();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto key = "param." + std::to_string(i);
      if (!tensors.count(key) || !tensors[key].sizes().equals(params[i].sizes()))
        fail(resume_dir, ": its trainable tensors do not match this config (", key, ")");
      torch::NoGradGuard no_grad;
      params[i].copy_(tensors[key]);
    }
    for (size_t i = 0; i < s.ema.size(); ++i) {
      const auto key = "ema." + std::to_string(i);
      if (!tensors.count(key)) fail(resume_dir, ": no EMA weights (", key, ") for this config's ema_decay");
      s.ema[i].copy_(tensors[key]);
    }
    TensorMap opt;
    for (const auto& [k, v] : tensors)
      if (k.rfind("optimizer.", 0) == 0) opt[k.substr(10)] = v;
    s.optimizer->load_state(opt);
    s.gen.set_state(tensors.at("rng.train"));
    default_gen.set_state(tensors.at("rng.default"));
    s.step = state.at("step").get<int64_t>();
    micro = state.at("micro_step").get<int64_t>();
    s.log->truncate(s.step);
    s.last_checkpoint = resume_dir;
    s.say("resumed from " + resume_dir + " at step " + std::to_string(s.step));
  } else {
    s.log->truncate(0);
  }
  if (s.writer()) write_file_atomic((fs::path(c.output_dir) / "config.json").string(), c.to_json().dump(2) + "\n");

  auto save_full_model = [&](const fs::path& dir) {
    SaveModelOptions so;
    so.dtype = parse_storage_dtype(c.save_dtype);
    so.metadata = {{"prtkl.steps", std::to_string(s.step)}, {"prtkl.stage", c.stage},
                   {"prtkl.dataset_hash", s.data.hash}, {"prtkl.ema_decay", std::to_string(c.ema_decay)}};
    s.with_ema([&] {
      if (s.vae_stage() && !s.decoder_stage()) so.config_edits["vae"] = Json{{"scaling_factor", s.latent_scaling()}};
      save_diffusers_model(m, (dir / "model").string(), so);
    });
  };

  auto save_outputs = [&](const fs::path& dir) {
    if (c.full) return save_full_model(dir);
    Metadata meta{{"prtkl.base_model", c.model},
                  {"prtkl.rank", std::to_string(c.rank)},
                  {"prtkl.alpha", std::to_string(c.alpha)},
                  {"prtkl.steps", std::to_string(s.step)},
                  {"prtkl.dataset_hash", s.data.hash},
                  {"prtkl.optimizer", c.optimizer},
                  {"ss_network_module", "networks.lora"},
                  {"ss_network_dim", std::to_string(c.rank)},
                  {"ss_network_alpha", std::to_string(c.alpha)},
                  {"ss_steps", std::to_string(s.step)},
                  {"ss_base_model_version", m.family == ModelFamily::SDXL ? "sdxl_base_v1-0" : "sd_v1"}};
    if (c.pivotal) meta["prtkl.tokens"] = c.pivotal_tokens();
    auto pairs = s.unet_lora.pairs("unet", c.alpha);
    if (s.has_te_lora) {
      for (auto& [k, v] : s.te_lora.pairs("text_encoder", c.alpha)) pairs[k] = v;
      for (auto& [k, v] : s.te2_lora.pairs("text_encoder_2", c.alpha)) pairs[k] = v;
    }
    write_lora_peft((dir / kLoraFile).string(), pairs, meta);
    write_lora_kohya((dir / (c.name + ".safetensors")).string(), pairs, meta);
    if (c.pivotal) {
      TensorMap emb{{"clip_l", s.rows_l.detach().clone()}};
      if (s.rows_g.defined()) emb["clip_g"] = s.rows_g.detach().clone();
      save_safetensors((dir / (c.name + "_emb.safetensors")).string(), emb, meta);
    }
  };

  auto reconstructions = [&](const fs::path& dir) {  // VAE stage: inputs above, reconstructions below
    torch::NoGradGuard no_grad;
    const auto& pool = s.held_out.empty() ? s.train : s.held_out;
    std::vector<torch::Tensor> px;
    for (size_t i = 0; i < std::min<size_t>(8, pool.size()); ++i) px.push_back(pool[i].pixels);
    const auto x = torch::stack(px).to(m.device, m.dtype);
    const auto rec = m.vae->decode(m.vae->encode(x).mean).clamp(-1, 1);
    const auto grid = torch::cat({torch::cat(x.unbind(0), 2), torch::cat(rec.unbind(0), 2)}, 1);  // [3, 2H, 8W]
    fs::create_directories(dir);
    const auto hwc = ((grid + 1) / 2).permute({1, 2, 0}).unsqueeze(0).to(torch::kFloat32).cpu();
    write_png((dir / "reconstruction.png").string(), to_images(hwc)[0]);
  };

  auto validate_weights = [&](const fs::path& dir) {
    m.unet->eval();
    if (s.vae_stage()) reconstructions(dir);
    if (!s.vae_stage() && !c.validation_prompts.empty()) {
      fs::create_directories(dir);
      StableDiffusionPipeline pipe(m);
      Json index = Json::array();
      for (size_t p = 0; p < c.validation_prompts.size(); ++p) {
        for (const auto seed : c.validation_seeds) {
          auto gp = pipe.resolve(s.validation_params(c.validation_prompts[p], seed));
          if (!s.validation_text.empty()) gp.encoded = s.validation_text[p];
          const auto result = pipe.generate(gp);
          const auto file = "p" + std::to_string(p) + "-s" + std::to_string(seed) + ".png";
          write_png((dir / file).string(), to_images(result.images)[0],
                    {{"parameters", a1111_parameters(gp, result.sampler_display_name, m.name)}});
          index.push_back({{"prompt", c.validation_prompts[p]}, {"seed", seed}, {"file", file},
                           {"steps", gp.steps}, {"cfg", gp.guidance_scale}, {"sampler", gp.sampler},
                           {"width", gp.width}, {"height", gp.height}});
        }
      }
      write_file_atomic((dir / "index.json").string(), index.dump(2) + "\n");
      if (s.vae_freed()) release_component(m, Component::Vae);  // the decoder read it back for this
    }
    std::optional<double> val;
    if (!s.held_out.empty()) {  // fixed noise and timesteps every time, so the values compare across steps
      torch::NoGradGuard no_grad;
      at::Generator g = at::detail::createCPUGenerator(c.seed + 12345);
      double total = 0;
      for (const auto& h : s.held_out) total += s.batch_loss({&h}, g, true, false).item<double>();
      val = total / double(s.held_out.size());
    }
    m.unet->train();
    return val;
  };
  auto validate = [&](const fs::path& dir) { return s.with_ema([&] { return validate_weights(dir); }); };

  auto write_checkpoint = [&]() {
    const auto final_dir = fs::path(c.output_dir) / checkpoint_name(s.step);
    const auto tmp = fs::path(c.output_dir) / (checkpoint_name(s.step) + ".partial");
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    save_outputs(tmp);
    TensorMap state;
    const auto params = s.trainable();
    for (size_t i = 0; i < params.size(); ++i) state["param." + std::to_string(i)] = params[i].detach().cpu();
    for (size_t i = 0; i < s.ema.size(); ++i) state["ema." + std::to_string(i)] = s.ema[i];
    for (const auto& [k, v] : s.optimizer->state()) state["optimizer." + k] = v;
    state["rng.train"] = s.gen.get_state();
    state["rng.default"] = default_gen.get_state();
    save_safetensors((tmp / kStateFile).string(), state, {});
    write_file_atomic((tmp / "state.json").string(),
                      Json({{"step", s.step}, {"micro_step", micro}, {"ti_frozen", s.step >= s.ti_steps}}).dump(2));
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);  // the checkpoint appears complete or not at all
    s.last_checkpoint = final_dir.string();
    if (c.keep_checkpoints > 0) {  // keep the newest K
      std::vector<std::pair<int64_t, fs::path>> all;
      for (const auto& e : fs::directory_iterator(c.output_dir))
        if (checkpoint_step(e.path()) >= 0) all.emplace_back(checkpoint_step(e.path()), e.path());
      std::sort(all.begin(), all.end());
      for (size_t i = 0; i + c.keep_checkpoints < all.size(); ++i) fs::remove_all(all[i].second);
    }
    s.say("saved " + final_dir.string());
    return final_dir;
  };

  m.unet->train();
  // Only where a graph is built: validation and a frozen text encoder run under NoGradGuard and do not recompute.
  m.unet->set_gradient_checkpointing(c.gradient_checkpointing);
  if (m.text_encoder) m.text_encoder->set_gradient_checkpointing(c.gradient_checkpointing);
  if (m.text_encoder_2) m.text_encoder_2->set_gradient_checkpointing(c.gradient_checkpointing);
  if (s.has_te_lora || (c.full && c.train_text_encoder)) {
    m.text_encoder->train();
    if (m.text_encoder_2) m.text_encoder_2->train();
  }
  const auto start = std::chrono::steady_clock::now();
  const double seconds_before = s.log->rows().empty() ? 0.0 : s.log->rows().back().seconds;
  int64_t epoch = 0, in_epoch = micro;
  auto batches = s.epoch_batches(0);
  while (in_epoch >= static_cast<int64_t>(batches.size())) in_epoch -= batches.size(), batches = s.epoch_batches(++epoch);

  TrainResult result;
  result.output_dir = c.output_dir;
  result.skipped = s.data.skipped;
  bool stop = false;
  while (s.step < c.max_train_steps && !stop) {
    const bool ti_frozen = s.step >= s.ti_steps;
    auto& groups = s.optimizer->groups();
    const double factor = lr_factor(c.lr_scheduler, s.step, c.max_train_steps, c.lr_warmup_steps);
    for (size_t g = 0; g < groups.size(); ++g) {
      groups[g].lr = s.base_lrs[g] * factor;
      if (groups[g].name == "embeddings") groups[g].frozen = ti_frozen;  // the pivot: no update, no decay
    }
    double loss_sum = 0;
    for (int64_t a = 0; a < c.gradient_accumulation_steps; ++a) {
      if (in_epoch >= static_cast<int64_t>(batches.size())) batches = s.epoch_batches(++epoch), in_epoch = 0;
      std::vector<const CachedSample*> batch;
      for (size_t i : batches[in_epoch]) batch.push_back(&s.train[i]);
      ++in_epoch;
      ++micro;
      const size_t share = static_cast<size_t>(c.batch_size);  // this rank's samples of the global batch
      auto loss = s.batch_loss(batch, s.gen, ti_frozen, true, s.rank * share, (s.rank + 1) * share);
      if (!loss.defined()) continue;  // the last, short batch of an epoch left this rank nothing
      const double value = loss.item<double>();
      if (!std::isfinite(value))
        fail("step ", s.step + 1, ": the loss is ", value, "; stopping. The last good checkpoint is ",
             s.last_checkpoint.empty() ? std::string("none (no checkpoint yet)") : s.last_checkpoint,
             " (lower the learning rate, or check the data)");
      (loss / double(c.gradient_accumulation_steps)).backward();
      loss_sum += value;
    }
    if (s.group) {  // the same summed gradients and loss on every rank
      const auto receivers = s.gradient_receivers(ti_frozen);
      std::vector<torch::Tensor> grads;
      for (auto p : receivers) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
      }
      s.group->all_reduce_sum(grads);
      loss_sum = s.group->all_reduce_sum(loss_sum);
    }
    std::vector<torch::Tensor> with_grad;
    for (const auto& p : s.trainable())
      if (p.grad().defined()) with_grad.push_back(p);
    if (c.max_grad_norm > 0 && !with_grad.empty()) torch::nn::utils::clip_grad_norm_(with_grad, c.max_grad_norm);
    s.optimizer->step();
    s.optimizer->zero_grad();
    ++s.step;
    s.update_ema();

    const double loss = loss_sum / double(c.gradient_accumulation_steps);
    const double seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double te_lr = groups.size() > 1 ? groups[1].lr : 0.0;
    s.log->add({s.step, loss, s.optimizer->effective_lr(), te_lr, std::nullopt, seconds});
    if (s.writer() &&
        (s.step % c.validation_every == 0 || s.step % c.checkpoint_every == 0 || s.step == c.max_train_steps)) {
      const bool ckpt = s.step % c.checkpoint_every == 0;
      // Validation images go beside the checkpoint of the same step.
      const auto dir = ckpt ? fs::path(c.output_dir) / (checkpoint_name(s.step) + ".partial-validation")
                            : fs::path(c.output_dir) / "validation" / ("step-" + std::to_string(s.step));
      std::optional<double> val;
      if (s.step % c.validation_every == 0) {
        fs::remove_all(dir);
        val = validate(dir);
        if (val) {
          s.log->set_val_loss(s.step, *val);
          std::ostringstream msg;
          msg << "step " << s.step << ": validation loss " << *val;
          s.say(msg.str());
        }
      }
      if (ckpt) {
        const auto saved = write_checkpoint();
        if (fs::exists(dir)) fs::rename(dir, saved / "validation");
      }
    }
    if (s.writer() && (s.step % c.log_every == 0 || s.step == c.max_train_steps)) s.log->write();
    if (s.cb.on_step && !s.cb.on_step({s.step, c.max_train_steps, loss, s.optimizer->effective_lr(), te_lr, ti_frozen}))
      stop = true;
  }
  if (s.writer()) s.log->write();
  result.steps = s.step;
  if (s.step >= c.max_train_steps) {
    if (s.writer()) save_outputs(c.output_dir);
    result.finished = true;
    s.say("done: " + (fs::path(c.output_dir) / (c.full ? "model" : kLoraFile)).string());
  }
  return result;
}

}  // namespace prtkl
