#include "train/trainer.h"

#include <ATen/autocast_mode.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "core/torch_compat.h"
#include "diffusion/model_loader.h"
#include "diffusion/model_save.h"
#include "diffusion/pipeline.h"
#include "dist/process_group.h"
#include "train/autoencoder_loss.h"
#include "train/batch_inputs.h"
#include "train/checkpoint_store.h"
#include "train/consistency_distillation.h"
#include "train/dataset.h"
#include "train/denoising_loss.h"
#include "train/ema.h"
#include "train/lora_injection.h"
#include "train/loss_log.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "train/pivotal_rows.h"
#include "train/run_folder.h"
#include "train/sample_cache.h"
#include "train/trained_parameters.h"
#include "train/training_outputs.h"
#include "train/validation.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

// How a batch's loss is taken: in a training step (caption dropout, a graph for what trains) or as a
// measurement (no dropout, no graph: the held-out and fixed-noise losses).
struct LossPass {
  bool training;
  bool ti_frozen;  // the token rows no longer train
  static LossPass step(bool ti_frozen) { return {true, ti_frozen}; }
  static LossPass measurement() { return {false, true}; }
};

// The text side's learning rate for the log: the text encoder's group, else the token rows'.
double text_side_lr(const std::vector<ParamGroup>& groups) {
  for (const char* name : {"text_encoder", "embeddings"})
    for (const auto& g : groups)
      if (g.name == name) return g.lr;
  return 0.0;
}

}  // namespace

struct Trainer::State {
  TrainConfig c;
  StableDiffusionModel model;
  std::unique_ptr<DenoisingLoss> objective;
  std::unique_ptr<ConsistencyDistillation> distillation;  // distill "lcm": the objective instead
  Dataset data;
  std::vector<CachedSample> train, held_out;
  TrainedParameters trained;
  bool has_te_lora = false;
  PivotalRows rows;                             // the trainable new token rows (pivotal)
  Ema ema;  // of the weights (full training) or of the LoRA (distillation: its target network); empty: none
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
  RunFolder folder() const { return RunFolder(c.output_dir, c.name); }

  bool text_path_trains(bool ti_frozen) const {
    return has_te_lora || (c.pivotal && !ti_frozen) || (c.full && c.train_text_encoder);
  }
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
    if (c.full) return trained.full;
    std::vector<torch::Tensor> p = trained.unet_lora.parameters();
    for (const auto* l : {&trained.te_lora, &trained.te2_lora})
      for (const auto& t : l->parameters()) p.push_back(t);
    if (rows.clip_l.defined()) p.push_back(rows.clip_l);
    if (rows.clip_g.defined()) p.push_back(rows.clip_g);
    return p;
  }

  // The tensors that get a gradient in a step: the same list on every rank, also one whose share of the batch is
  // empty. Token rows get one while they train, and after the pivot still when a text-encoder LoRA trains.
  std::vector<torch::Tensor> gradient_receivers(bool ti_frozen) const {
    std::vector<torch::Tensor> out;
    for (const auto& p : trainable())
      if (!(ti_frozen && !has_te_lora && (p.is_same(rows.clip_l) || p.is_same(rows.clip_g)))) out.push_back(p);
    return out;
  }

  torch::Tensor vae_loss(const std::vector<const CachedSample*>& batch, at::Generator& g) const {
    std::vector<torch::Tensor> px;
    for (const auto* sample : batch) px.push_back(sample->pixels);
    auto vae = model.vae;
    return autoencoder_loss(vae, torch::stack(px).to(model.device, model.dtype), g, c.kl_weight, c.decoder_stage());
  }
  std::vector<torch::Tensor> training_pictures() const {
    std::vector<torch::Tensor> px;
    for (const auto& sample : train) px.push_back(sample.pixels);
    return px;
  }

  torch::Tensor unet_output(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context,
                            const torch::Tensor& pooled, const torch::Tensor& time_ids) const {
    auto unet = model.unet;  // the holder: forward is not const
    return unet->forward(x.to(model.dtype), t, context, pooled, time_ids);
  }

  // Loss of one batch (mean over the batch, min-SNR weighted when asked). Data parallel, a rank computes the
  // samples [lo, hi) of the global batch and returns their share of its mean (sum / batch size), so the ranks'
  // gradients add up to the whole batch's. Undefined when the share is empty.
  torch::Tensor batch_loss(const std::vector<const CachedSample*>& batch, at::Generator& g, LossPass pass,
                           size_t lo = 0, size_t hi = SIZE_MAX) const {
    const auto dev = model.device;
    // Mixed precision: matmuls and convolutions in bf16/fp16, weights, LoRA and the loss in fp32.
    AutocastGuard autocast(dev.type(), c.mixed_precision == MixedPrecision::kFp16 ? torch::kHalf : torch::kBFloat16,
                           c.mixed_precision != MixedPrecision::kNo);
    if (c.autoencoder_stage()) return vae_loss(batch, g);
    hi = std::min(hi, batch.size());
    lo = std::min(lo, hi);
    const BatchInputOptions o{latent_scale, pass.training ? c.caption_dropout : 0.0,
                              pass.training && text_path_trains(pass.ti_frozen)};
    const auto in = batch_inputs(model, empty_text, batch, g, o, lo, hi);
    // Noise, noisy latents and targets in fp32; the UNet reads its input in the base weights' dtype.
    const int64_t B = static_cast<int64_t>(batch.size()), n = static_cast<int64_t>(hi - lo);
    if (distillation) return distillation_loss(in, batch[0]->latent_size, g, lo, B);
    auto [noise, t] = objective->draw(B, batch[0]->latent_size, g);
    if (n == 0) return {};
    noise = noise.narrow(0, static_cast<int64_t>(lo), n).to(dev);
    t = t.narrow(0, static_cast<int64_t>(lo), n).to(dev);
    const auto [noisy, target] = objective->inputs(in.x0, noise, t);
    return objective->loss(unet_output(noisy, t, in.context, in.pooled, in.time_ids), target, t, B);
  }

  // Consistency distillation's loss (train/consistency_distillation.h): the student is the UNet with its LoRA,
  // the teacher the same UNet with the LoRA off (both guidance halves in one call), the target the LoRA's EMA.
  torch::Tensor distillation_loss(const BatchInputs& in, const std::vector<int64_t>& latent_size, at::Generator& g,
                                  size_t lo, int64_t B) const {
    auto [noise, index] = distillation->draw(B, latent_size, g);
    if (!in.x0.defined()) return {};
    const int64_t n = in.x0.size(0);
    noise = noise.narrow(0, static_cast<int64_t>(lo), n).to(model.device);
    index = index.narrow(0, static_cast<int64_t>(lo), n);
    const auto student = [&](const torch::Tensor& x, const torch::Tensor& t) {
      return unet_output(x, t, in.context, in.pooled, in.time_ids);
    };
    const auto teacher = [&](const torch::Tensor& x, const torch::Tensor& t) {
      trained.unet_lora.set_enabled(false);
      struct On {
        const InjectedLora& l;
        ~On() { l.set_enabled(true); }
      } on{trained.unet_lora};
      const auto uncond = pad_with_empty(empty_text, empty_text,
                                         static_cast<size_t>(in.context.size(1) / empty_text.prompt_embeds.size(1)));
      const auto context = torch::cat({in.context, uncond.prompt_embeds.expand({n, -1, -1}).to(model.dtype)});
      torch::Tensor pooled;
      if (in.pooled.defined())
        pooled = torch::cat({in.pooled, uncond.pooled_prompt_embeds.expand({n, -1}).to(model.dtype)});
      const auto time_ids = in.time_ids.defined() ? torch::cat({in.time_ids, in.time_ids}) : torch::Tensor();
      const auto out = unet_output(torch::cat({x, x}), torch::cat({t, t}), context, pooled, time_ids).chunk(2);
      return distillation->guide(out[0], out[1]);
    };
    const auto target = [&](const torch::Tensor& x, const torch::Tensor& t) {
      const auto out = ema.empty() ? student(x, t) : ema.with_average([&] { return student(x, t); });
      // Autocast keeps its casts of trainable weights for the region: cast here without a graph (and, with the
      // EMA, of the swapped weights), the student would reuse them and get no gradient.
      at::autocast::clear_cache();
      return out;
    };
    return batch_share(distillation->per_sample_loss(in.x0, noise, index, student, teacher, target), B);
  }

  // The LoRA files' pairs (in save_dtype; checkpoints' state stays fp32), the token rows and the metadata.
  AdapterOutputs adapter_outputs() const {
    AdapterOutputs out;
    out.metadata = adapter_metadata(c, model.family, step, data.hash);
    out.lora = trained.unet_lora.pairs("unet", c.alpha);
    if (has_te_lora) {
      for (auto& [k, v] : trained.te_lora.pairs("text_encoder", c.alpha)) out.lora[k] = v;
      for (auto& [k, v] : trained.te2_lora.pairs("text_encoder_2", c.alpha)) out.lora[k] = v;
    }
    const auto dtype = parse_storage_dtype(c.save_dtype);
    for (auto& [_, pair] : out.lora) pair.down = pair.down.to(dtype), pair.up = pair.up.to(dtype);
    if (c.pivotal) {
      out.embeddings["clip_l"] = rows.clip_l.detach().clone();
      if (rows.clip_g.defined()) out.embeddings["clip_g"] = rows.clip_g.detach().clone();
    }
    return out;
  }

  // Mean loss over `samples` one at a time with noise and timesteps from a generator seeded `seed`: comparable
  // across steps (the held-out loss) and before and after a run.
  double fixed_noise_loss(const std::vector<CachedSample>& samples, uint64_t seed) const {
    torch::NoGradGuard no_grad;
    at::Generator g = at::detail::createCPUGenerator(seed);
    double total = 0;
    for (const auto& sample : samples) total += batch_loss({&sample}, g, LossPass::measurement()).item<double>();
    return total / double(samples.size());
  }
};

Trainer::~Trainer() = default;
const TrainConfig& Trainer::config() const { return s_->c; }
StableDiffusionModel& Trainer::model() { return s_->model; }

double Trainer::fixed_noise_loss() {
  auto& s = *s_;
  s.model.unet->eval();
  const double loss = s.fixed_noise_loss(s.train, s.c.seed + 54321);
  s.model.unet->train();
  return loss;
}

std::string Trainer::find_checkpoint(const std::string& output_dir, const std::string& resume) {
  if (resume.empty()) return "";
  if (resume != "latest") {
    if (!fs::exists(fs::path(resume) / RunFolder::kStateJson)) fail(resume, ": not a training checkpoint (no state.json)");
    return resume;
  }
  const auto latest = RunFolder(output_dir).latest_resumable();
  return latest ? latest->string() : "";
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
    if (c.autoencoder_stage()) fail("the VAE stages train in one process (prtkl train without launch)");
  }
  LoadOptions lo;
  lo.device = parse_device(c.device);
  if (c.mixed_precision == MixedPrecision::kFp16 && !lo.device.is_cuda())
    fail("mixed_precision fp16 needs a CUDA device; on the CPU use bf16");
  if (c.base_dtype == "fp16" && !lo.device.is_cuda()) fail("base_dtype fp16 needs a CUDA device; on the CPU use bf16");
  lo.dtype = parse_storage_dtype(c.base_dtype);
  lo.vae_dtype = torch::kFloat32;  // latents are encoded in fp32 whatever the base weights' dtype
  // With the latents cached, the UNet is read only once they are: the VAE's activations (6.5 GiB for one SDXL
  // picture at 1024² in fp32) and the UNet (4.8 GiB in bf16) are then never resident together.
  const bool encode_now = !c.autoencoder_stage() && c.cache_latents;
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
  s.objective = std::make_unique<DenoisingLoss>(m.scheduler_config, c.prediction_type, c.snr_gamma, c.noise_offset);
  if (c.distill == Distillation::kLcm)
    s.distillation = std::make_unique<ConsistencyDistillation>(m.scheduler_config, c.prediction_type,
                                                               c.lcm_original_steps, c.lcm_guidance, c.huber_c);
  if (c.resolution == 0) c.resolution = m.unet_config.get<int64_t>("sample_size") * StableDiffusionPipeline(m).vae_scale_factor();

  if (c.pivotal) {
    // Rank 0 keeps the initial rows in the run folder; the other ranks load theirs from a file of their own.
    const auto init_file = s.writer() ? (fs::path(c.output_dir) / s.folder().initial_embeddings_file()).string()
                                      : (fs::temp_directory_path() / ("prtkl-" + std::to_string(::getpid()) + "-rank" +
                                                                      std::to_string(s.rank) + "_emb_init.safetensors")).string();
    s.rows = add_pivotal_rows(m, c, init_file, s.writer());
    s.ti_steps = static_cast<int64_t>(std::llround(c.ti_frac * double(c.max_train_steps)));
    // Captions say TOK; the model reads <s0><s1>.
    s.say("pivotal tuning: " + c.token_abstraction + " -> " + c.pivotal_tokens() + ", token rows train for " +
          std::to_string(s.ti_steps) + " of " + std::to_string(c.max_train_steps) + " steps");
  }

  s.data = load_dataset(c.dataset_options());
  s.has_te_lora = !c.full && c.train_text_encoder;  // before caching: the text cache is off when it trains

  const bool cache_text = c.cache_text_embeddings && !s.text_path_trains(false);
  const auto latents = encode_now ? LatentCache::kEncodeNow : LatentCache::kEncodeEachStep;
  const auto use = c.autoencoder_stage() ? SampleUse::kAutoencoder : SampleUse::kUNet;
  s.train = cache_samples(m, c, s.data.train, latents, use);
  s.held_out = cache_samples(m, c, s.data.held_out, latents, use);
  if (cache_text && !c.autoencoder_stage()) {
    cache_text_embeddings(m, s.train);
    cache_text_embeddings(m, s.held_out);
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

  s.trained = set_up_trained_parameters(m, c, s.rows, s.ti_steps);
  // The EMA: of the weights in full training; of the LoRA in distillation, its target network, which follows at the
  // fixed decay (diffusers' LCD scripts), no warmup.
  const auto averaged = c.full           ? s.trained.full
                        : s.distillation ? s.trained.unet_lora.parameters()
                                         : std::vector<torch::Tensor>{};
  if (c.ema_decay > 0 && !averaged.empty()) s.ema = Ema(averaged, c.ema_decay, !s.distillation);
  for (const auto& g : s.trained.groups) s.base_lrs.push_back(g.lr);
  s.optimizer = make_optimizer(c, s.trained.groups);

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
  const auto folder = s.folder();
  if (s.writer()) {
    fs::create_directories(c.output_dir);
    folder.remove_partial_writes();  // leftovers of a checkpoint write that was killed
    for (const auto& skipped : s.data.skipped) s.say("skipped " + skipped);
  }

  s.gen.set_current_seed(c.seed);
  at::Generator default_gen = at::detail::getDefaultCPUGenerator();  // LoRA dropout draws from it
  default_gen.set_current_seed(c.seed + 1);
  const auto params = s.trainable();
  const TrainingStateRefs state{params, s.ema.average(), *s.optimizer, s.gen, default_gen};
  int64_t micro = 0;  // batches consumed
  s.log = std::make_unique<LossLog>(c.output_dir);
  const auto resume_dir = find_checkpoint(c.output_dir, c.resume);
  if (!resume_dir.empty()) {
    const auto at = read_checkpoint(resume_dir, state);
    s.step = at.step;
    micro = at.micro_step;
    s.log->truncate(s.step);
    s.last_checkpoint = resume_dir;
    s.say("resumed from " + resume_dir + " at step " + std::to_string(s.step));
  } else {
    s.log->truncate(0);
  }
  if (s.writer()) write_file_atomic((fs::path(c.output_dir) / "config.json").string(), c.to_json().dump(2) + "\n");

  auto save_outputs = [&](const fs::path& dir) {
    if (!c.full) {
      // Distillation: the LoRA's EMA (its target network) is what it learnt.
      return s.ema.with_average([&] { write_adapter_outputs(dir, folder, s.adapter_outputs()); });
    }
    SaveModelOptions so;
    so.dtype = parse_storage_dtype(c.save_dtype);
    so.metadata = {{"prtkl.steps", std::to_string(s.step)},
                   {"prtkl.stage", name_of(c.stage)},
                   {"prtkl.dataset_hash", s.data.hash},
                   {"prtkl.ema_decay", std::to_string(c.ema_decay)}};
    s.ema.with_average([&] {
      if (c.autoencoder_stage() && !c.decoder_stage())
        so.config_edits["vae"] = Json{
            {"scaling_factor", measured_latent_scaling(m.vae, s.training_pictures(), c.seed + 999, m.device, m.dtype)}};
      save_diffusers_model(m, (dir / RunFolder::kModelDir).string(), so);
    });
  };

  // Validation images (or the autoencoder's reconstructions) into `dir` and the held-out loss, with the EMA
  // weights when there are any.
  auto validate = [&](const fs::path& dir) {
    return s.ema.with_average([&]() -> std::optional<double> {
      m.unet->eval();
      if (c.autoencoder_stage()) {
        std::vector<torch::Tensor> pictures;
        for (const auto& sample : s.held_out.empty() ? s.train : s.held_out) pictures.push_back(sample.pixels);
        write_reconstructions(m, pictures, dir);
      } else if (!c.validation_prompts.empty()) {
        write_validation_images(m, dir, {c.validation_prompts, c.validation_seeds, s.validation_text,
                                         [&](const std::string& prompt, uint64_t seed) {
                                           return s.validation_params(prompt, seed);
                                         }});
        if (s.vae_freed()) release_component(m, Component::Vae);  // the decoder read it back for this
      }
      std::optional<double> val;
      if (!s.held_out.empty()) val = s.fixed_noise_loss(s.held_out, c.seed + 12345);
      m.unet->train();
      return val;
    });
  };

  auto checkpoint = [&]() {
    const auto dir = write_checkpoint(folder, {s.step, micro, s.step >= s.ti_steps}, state, c.keep_checkpoints, save_outputs);
    s.last_checkpoint = dir.string();
    s.say("saved " + dir.string());
    return dir;
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
      auto loss = s.batch_loss(batch, s.gen, LossPass::step(ti_frozen), s.rank * share, (s.rank + 1) * share);
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
    s.ema.update(s.step);

    const double loss = loss_sum / double(c.gradient_accumulation_steps);
    const double seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double te_lr = text_side_lr(groups);
    s.log->add({s.step, loss, s.optimizer->effective_lr(), te_lr, std::nullopt, seconds});
    if (s.writer() &&
        (s.step % c.validation_every == 0 || s.step % c.checkpoint_every == 0 || s.step == c.max_train_steps)) {
      const bool ckpt = s.step % c.checkpoint_every == 0;
      // Validation images go beside the checkpoint of the same step.
      const auto dir = ckpt ? fs::path(folder.partial_checkpoint(s.step).string() + "-validation")
                            : folder.dir() / RunFolder::kValidationDir / ("step-" + std::to_string(s.step));
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
        const auto saved = checkpoint();
        if (fs::exists(dir)) fs::rename(dir, saved / RunFolder::kValidationDir);
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
    s.say("done: " + (folder.dir() / (c.full ? RunFolder::kModelDir : RunFolder::kLoraFile)).string());
  }
  return result;
}

}  // namespace prtkl
