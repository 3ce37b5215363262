// The trainer end to end on tiny-sd15 with a synthetic particle-art set: the loss goes down, resume equals an
// uninterrupted run, pivotal tuning trains only the new rows and freezes them at the pivot, outputs load back
// and reproduce the trained model, NaN stops the run with the last checkpoint intact.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "adapters/adapter_setup.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/safetensors.h"
#include "diffusion/pipeline.h"
#include "support/fixtures.h"
#include "train/trainer.h"
#include "train_data.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

TrainConfig tiny_config(const std::string& name) {
  auto c = test::shapes_run(name, 4);
  c.rank = 4;
  c.lr = 1e-3;
  c.seed = 3;
  c.log_every = 1;
  return c;
}

std::string column(const std::string& csv_path, int col) {
  std::string out;
  for (const auto& cell : test::csv_column(csv_path, col)) out += cell + "\n";
  return out;
}

// Expects run b's loss at every step within `rel` (relative) of run a's; returns the number of steps compared.
int compare_losses(const TrainConfig& a, const TrainConfig& b, double rel) {
  std::istringstream la(column(a.output_dir + "/loss.csv", 1)), lb(column(b.output_dir + "/loss.csv", 1));
  int rows = 0;
  for (double x, y; la >> x && lb >> y; ++rows) EXPECT_NEAR(y, x, rel * std::abs(x)) << "step " << rows + 1;
  return rows;
}

// Calls f(file, name, a's tensor, b's tensor) in fp64 for every tensor of the two runs' LoRA and embedding outputs,
// after checking both hold the same names.
void for_each_output_tensor(const TrainConfig& a, const TrainConfig& b,
                            const std::function<void(const std::string&, const std::string&, const torch::Tensor&,
                                                     const torch::Tensor&)>& f) {
  for (const std::string file : {"/pytorch_lora_weights.safetensors", "/prtkl_emb.safetensors"}) {
    auto fa = SafeTensors::open(a.output_dir + file), fb = SafeTensors::open(b.output_dir + file);
    ASSERT_EQ(fa.names(), fb.names()) << file;
    for (const auto& n : fa.names()) f(file, n, fa.get(n).to(torch::kFloat64), fb.get(n).to(torch::kFloat64));
  }
}

}  // namespace

TEST(Trainer, FiftyStepsLowerTheLoss) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_50");
  c.max_train_steps = 50;
  c.checkpoint_every = 25;
  c.lr = 1e-2;
  c.rank = 8;
  c.snr_gamma = 5.0;
  c.noise_offset = 0.05;
  Trainer trainer(c);
  const double before = trainer.fixed_noise_loss();
  int steps_seen = 0;
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    ++steps_seen;
    EXPECT_TRUE(std::isfinite(s.loss));
    return true;
  };
  const auto result = trainer.run(cb);
  const double after = trainer.fixed_noise_loss();
  EXPECT_EQ(steps_seen, 50);
  EXPECT_TRUE(result.finished);
  EXPECT_LT(after, 0.95 * before) << "loss on fixed noise: " << before << " -> " << after;
  const auto run = fs::path(c.output_dir);
  for (const char* f : {"config.json", "loss.csv", "loss.svg", "pytorch_lora_weights.safetensors", "prtkl.safetensors",
                        "checkpoint-25/state.json", "checkpoint-50/pytorch_lora_weights.safetensors"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  EXPECT_EQ(std::count_if(std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(run / "loss.csv")), {},
                          [](char ch) { return ch == '\n'; }),
            51);
  EXPECT_NE(read_file((run / "loss.svg").string()).find("<polyline"), std::string::npos);
  // The resolved config is saved and loads back.
  TrainConfig saved;
  saved.apply_json(read_json_file((run / "config.json").string()), "config.json");
  EXPECT_EQ(saved.max_train_steps, 50);
  EXPECT_DOUBLE_EQ(saved.alpha, 8.0);
  // kohya copy and PEFT file hold the same adapter, with training metadata.
  auto peft = SafeTensors::open((run / "pytorch_lora_weights.safetensors").string());
  EXPECT_EQ(peft.metadata().at("prtkl.rank"), "8");
  EXPECT_EQ(peft.metadata().at("prtkl.steps"), "50");
  EXPECT_FALSE(peft.metadata().at("prtkl.dataset_hash").empty());
  auto kohya = SafeTensors::open((run / "prtkl.safetensors").string());
  bool has_alpha = false;
  for (const auto& n : kohya.names()) has_alpha |= n.find(".alpha") != std::string::npos;
  EXPECT_TRUE(has_alpha);
}

// The loss curve of a run stopped at a checkpoint and resumed equals that of an uninterrupted run, with
// pivotal tuning, dropout and the pivot falling after the resume point, so every kind of state must come back.
TEST(Trainer, ResumeEqualsUninterrupted) {
  torch::set_num_threads(2);
  auto a = tiny_config("trainer_resume_a");
  a.max_train_steps = 6;
  a.checkpoint_every = 2;
  a.pivotal = true;
  a.ti_frac = 0.7;  // rows train through step 4: the resume at 2 must restore them and their moments
  a.dropout = 0.1;
  a.repeats = 2;
  a.batch_size = 2;
  a.random_flip = true;
  a.center_crop = false;
  Trainer(a).run();

  auto b = a;
  b.output_dir = test::scratch_dir("trainer_resume_b") + "/run";
  {
    TrainCallbacks stop_at_2;
    stop_at_2.on_step = [](const TrainStep& s) { return s.step < 2; };
    const auto r = Trainer(b).run(stop_at_2);
    EXPECT_EQ(r.steps, 2);
    EXPECT_FALSE(r.finished);
  }
  auto resumed = b;
  resumed.resume = "latest";
  const auto r = Trainer(resumed).run();
  EXPECT_EQ(r.steps, 6);
  EXPECT_EQ(column(a.output_dir + "/loss.csv", 1), column(b.output_dir + "/loss.csv", 1));
  auto ta = SafeTensors::open(a.output_dir + "/prtkl_emb.safetensors").get("clip_l");
  auto tb = SafeTensors::open(b.output_dir + "/prtkl_emb.safetensors").get("clip_l");
  EXPECT_TRUE(torch::equal(ta, tb)) << "token rows after resume";
  auto la = SafeTensors::open(a.output_dir + "/pytorch_lora_weights.safetensors");
  auto lb = SafeTensors::open(b.output_dir + "/pytorch_lora_weights.safetensors");
  for (const auto& n : la.names()) EXPECT_TRUE(torch::equal(la.get(n), lb.get(n))) << n;
}

// Prodigy with default flags, pivotal tuning: only the new rows train, and after the pivot they do not move at
// all (no momentum, no weight decay), while the LoRA keeps training.
TEST(Trainer, PivotalTuningWithProdigyFreezesTheRowsAtThePivot) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_pivot");
  c.optimizer = OptimizerKind::kProdigy;
  c.lr = 1.0;
  c.weight_decay = 0.01;
  c.pivotal = true;
  c.ti_frac = 0.5;
  c.max_train_steps = 4;
  c.checkpoint_every = 1;
  c.initializer_concept = "dots";
  Trainer(c).run();
  auto rows = [&](int step) {
    return SafeTensors::open(c.output_dir + "/checkpoint-" + std::to_string(step) + "/prtkl_emb.safetensors").get("clip_l");
  };
  auto lora = [&](int step) {
    auto st = SafeTensors::open(c.output_dir + "/checkpoint-" + std::to_string(step) + "/pytorch_lora_weights.safetensors");
    return st.get(st.names().front());
  };
  EXPECT_FALSE(torch::equal(rows(1), rows(2))) << "rows train before the pivot (ti_frac counts optimizer steps)";
  EXPECT_TRUE(torch::equal(rows(2), rows(3))) << "rows frozen after the pivot";
  EXPECT_TRUE(torch::equal(rows(3), rows(4)));
  EXPECT_FALSE(torch::equal(lora(3), lora(4))) << "LoRA keeps training";
  EXPECT_EQ(rows(4).sizes(), torch::IntArrayRef({2, 32}));
  // Only the new rows are optimizer parameters: no state tensor is the size of the vocabulary matrix.
  auto state = SafeTensors::open(c.output_dir + "/checkpoint-4/training_state.safetensors");
  const auto vocab = load_model(c.model).tokenizer->vocab_size();
  for (const auto& n : state.names())
    if (n.rfind("optimizer.", 0) == 0) EXPECT_LT(state.get(n).numel(), vocab * 32) << n;
  // Captions reach the text encoder as inference tokenizes them: bos first, eos after the text.
  auto model = load_model(c.model);
  const auto tokens = tokenize_prompt(model, "a ring");
  EXPECT_EQ(tokens.one[0][0], model.tokenizer->bos_id());
}

TEST(Trainer, SavedOutputsReproduceTheTrainedModel) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_outputs");
  c.pivotal = true;
  c.train_text_encoder = true;
  c.max_train_steps = 3;
  c.checkpoint_every = 3;
  c.lr = 5e-3;
  c.text_encoder_lr = 5e-3;
  Trainer trainer(c);
  trainer.run();
  GenerateParams p;
  p.prompt = "<s0><s1>, a ring made of particles";
  p.steps = 3;
  p.seed = 9;
  auto& trained = trainer.model();
  trained.unet->eval();
  trained.text_encoder->eval();
  const auto expected = StableDiffusionPipeline(trained).generate(p).images;
  auto fresh = load_model(c.model);
  const auto applied = apply_adapters(fresh, {c.output_dir + "/pytorch_lora_weights.safetensors"},
                                      {c.output_dir + "/prtkl_emb.safetensors"});
  EXPECT_TRUE(applied.warnings.empty()) << applied.warnings.front();
  const auto actual = StableDiffusionPipeline(fresh).generate(p).images;
  EXPECT_LT((expected - actual).abs().max().item<double>(), 1e-4);
  // Without the adapters the picture differs: the test can tell.
  const auto base = StableDiffusionPipeline(*std::make_unique<StableDiffusionModel>(load_model(c.model)))
                        .generate([&] {
                          auto q = p;
                          q.prompt = "a ring made of particles";
                          return q;
                        }())
                        .images;
  EXPECT_GT((base - actual).abs().max().item<double>(), 1e-3);
  // The kohya copy applies the same adapter.
  auto fresh_kohya = load_model(c.model);
  apply_adapters(fresh_kohya, {c.output_dir + "/prtkl.safetensors"}, {c.output_dir + "/prtkl_emb.safetensors"});
  EXPECT_LT((expected - StableDiffusionPipeline(fresh_kohya).generate(p).images).abs().max().item<double>(), 1e-4);
}

TEST(Trainer, NanLossStopsAndKeepsTheLastCheckpoint) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_nan");
  c.lr = 1e30;
  c.max_grad_norm = 0;
  c.max_train_steps = 20;
  c.checkpoint_every = 1;
  try {
    Trainer(c).run();
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the loss is"), std::string::npos) << msg;
    EXPECT_NE(msg.find("checkpoint-"), std::string::npos) << msg;
  }
  const auto latest = Trainer::find_checkpoint(c.output_dir, "latest");
  ASSERT_FALSE(latest.empty());
  EXPECT_NO_THROW(SafeTensors::open(latest + "/training_state.safetensors"));
  EXPECT_NO_THROW(SafeTensors::open(latest + "/pytorch_lora_weights.safetensors"));
}

TEST(Trainer, KilledCheckpointWriteIsIgnoredAndOldCheckpointsPruned) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_keep");
  c.max_train_steps = 4;
  c.checkpoint_every = 1;
  c.keep_checkpoints = 2;
  fs::create_directories(c.output_dir + "/checkpoint-9.partial");  // a write that was killed
  Trainer(c).run();
  EXPECT_FALSE(fs::exists(c.output_dir + "/checkpoint-9.partial"));
  EXPECT_FALSE(fs::exists(c.output_dir + "/checkpoint-2"));
  EXPECT_TRUE(fs::exists(c.output_dir + "/checkpoint-3"));
  EXPECT_TRUE(fs::exists(c.output_dir + "/checkpoint-4"));
  EXPECT_EQ(Trainer::find_checkpoint(c.output_dir, "latest"), c.output_dir + "/checkpoint-4");
}

TEST(Trainer, ValidationImagesAndHeldOutLoss) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_validation");
  c.max_train_steps = 2;
  c.checkpoint_every = 2;
  c.validation_every = 1;
  c.held_out = 1;
  c.validation_prompts = {"a ring"};
  c.validation_seeds = {1, 2};
  c.validation_steps = 2;
  Trainer(c).run();
  EXPECT_TRUE(fs::exists(c.output_dir + "/validation/step-1/p0-s1.png"));
  EXPECT_TRUE(fs::exists(c.output_dir + "/checkpoint-2/validation/p0-s2.png"));
  const auto index = read_json_file(c.output_dir + "/checkpoint-2/validation/index.json");
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0]["prompt"], "a ring");
  const auto val = column(c.output_dir + "/loss.csv", 4);
  EXPECT_EQ(std::count(val.begin(), val.end(), '\n'), 2);
  EXPECT_EQ(val.find("\n\n"), std::string::npos) << "a validation loss on every validated step: " << val;
}

TEST(Trainer, Bf16MixedPrecisionTrains) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_bf16");
  c.max_train_steps = 2;
  c.checkpoint_every = 2;
  std::vector<double> fp32, bf16;
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    fp32.push_back(s.loss);
    return true;
  };
  Trainer(c).run(cb);
  auto m = c;
  m.output_dir += "-bf16";
  m.mixed_precision = MixedPrecision::kBf16;
  cb.on_step = [&](const TrainStep& s) {
    bf16.push_back(s.loss);
    return true;
  };
  Trainer(m).run(cb);
  ASSERT_EQ(bf16.size(), 2u);
  EXPECT_TRUE(std::isfinite(bf16[0]) && std::isfinite(bf16[1]));
  EXPECT_NE(fp32[0], bf16[0]) << "autocast is active";
  EXPECT_NEAR(fp32[0], bf16[0], 0.05 * std::abs(fp32[0]));
  auto f = c;
  f.output_dir += "-fp16";
  f.mixed_precision = MixedPrecision::kFp16;
  EXPECT_THROW(Trainer{f}, Error) << "fp16 autocast needs CUDA";
}

// gradient_checkpointing recomputes activations instead of keeping them: the same losses and the same LoRA and
// token rows as without it (pivotal tuning with LoRA dropout, so the recomputation must redraw the same masks).
TEST(Trainer, GradientCheckpointingGivesTheSameRun) {
  torch::set_num_threads(2);
  auto a = tiny_config("trainer_checkpointing_off");
  a.max_train_steps = 3;
  a.checkpoint_every = 3;
  a.pivotal = true;
  a.dropout = 0.1;
  a.train_text_encoder = true;
  Trainer(a).run();
  auto b = a;
  b.output_dir = test::scratch_dir("trainer_checkpointing_on") + "/run";
  b.gradient_checkpointing = true;
  Trainer(b).run();
  EXPECT_EQ(compare_losses(a, b, 1e-5), 3);
  for_each_output_tensor(a, b, [](const std::string& file, const std::string& n, const torch::Tensor& x,
                                   const torch::Tensor& y) {
    EXPECT_LE(((x - y).norm() / y.norm()).item<double>(), 1e-5) << file << " " << n;
  });
}

// base_dtype bf16: the frozen UNet and text-encoder weights are bf16 while the LoRA, the token rows and the
// optimizer state stay fp32; the run follows the fp32 one closely but is not the same computation.
TEST(Trainer, Bf16BaseWeightsTrainFp32AdaptersCloseToTheFp32Run) {
  torch::set_num_threads(2);
  auto a = tiny_config("trainer_base_fp32");
  a.max_train_steps = 3;
  a.checkpoint_every = 3;
  a.pivotal = true;
  a.train_text_encoder = true;
  Trainer(a).run();
  auto b = a;
  b.output_dir = test::scratch_dir("trainer_base_bf16") + "/run";
  b.base_dtype = "bf16";
  Trainer t(b);
  for (const auto* module : {static_cast<torch::nn::Module*>(t.model().unet.get()),
                             static_cast<torch::nn::Module*>(t.model().text_encoder.get())})
    for (const auto& p : module->named_parameters())
      EXPECT_EQ(p.value().scalar_type(), p.key().find("lora_") == std::string::npos ? torch::kBFloat16 : torch::kFloat32)
          << p.key();
  t.run();
  EXPECT_EQ(compare_losses(a, b, 0.03), 3);
  // Adam's first steps move each weight by about lr · sign(gradient), so single small tensors differ where a
  // gradient is near zero; all trained tensors together stay close (independent runs would differ by ~1.4).
  double diff2 = 0, norm2 = 0;
  bool all_equal = true;
  for (const std::string file : {"/pytorch_lora_weights.safetensors", "/prtkl_emb.safetensors"})
    for (const auto& [n, t] : SafeTensors::open(b.output_dir + file).all())
      EXPECT_EQ(t.scalar_type(), torch::kFloat32) << file << " " << n;
  for_each_output_tensor(a, b, [&](const std::string&, const std::string& n, const torch::Tensor& x,
                                   const torch::Tensor& y) {
    all_equal &= torch::equal(x, y);
    if (n.find("lora_A") != std::string::npos) return;  // random init: close to fp32's whatever happened
    diff2 += (x - y).pow(2).sum().item<double>();
    norm2 += x.pow(2).sum().item<double>();
  });
  EXPECT_FALSE(all_equal) << "the base weights really are bf16";
  EXPECT_LT(std::sqrt(diff2 / norm2), 0.3) << "relative distance of the trained LoRA B and token rows from fp32's";
  auto f = a;
  f.output_dir += "-fp16";
  f.base_dtype = "fp16";
  EXPECT_THROW(Trainer{f}, Error) << "fp16 base weights need CUDA";
}

// Cached latents and text embeddings are the same inputs as encoding every step: the same losses for the same
// seed (captions dropped to the empty prompt included). With them cached the VAE and the text encoder are not
// resident during the steps; validation reads the VAE back and uses prompts encoded before the encoder went.
TEST(Trainer, CachedLatentsAndEmbeddingsGiveTheSameLosses) {
  torch::set_num_threads(2);
  auto a = tiny_config("trainer_cache_on");
  a.max_train_steps = 3;
  a.checkpoint_every = 3;
  a.batch_size = 2;
  a.caption_dropout = 0.3;
  a.validation_prompts = {"a red circle"};
  a.validation_steps = 2;
  Trainer ta(a);
  EXPECT_TRUE(ta.model().vae.is_empty()) << "every latent is cached: the VAE is freed";
  EXPECT_TRUE(ta.model().text_encoder.is_empty()) << "every caption is cached: the text encoder is freed";
  ta.run();
  EXPECT_TRUE(ta.model().vae.is_empty()) << "freed again after the validation images";
  EXPECT_TRUE(fs::exists(a.output_dir + "/checkpoint-3/validation/p0-s1.png"));
  auto b = a;
  b.output_dir = test::scratch_dir("trainer_cache_off") + "/run";
  b.cache_latents = false;
  b.cache_text_embeddings = false;
  Trainer tb(b);
  EXPECT_FALSE(tb.model().vae.is_empty());
  EXPECT_FALSE(tb.model().text_encoder.is_empty());
  tb.run();
  EXPECT_EQ(compare_losses(a, b, 1e-5), 3);
}

// v-prediction targets and gradient accumulation change what is optimised: both run and give their own curve.
TEST(Trainer, VPredictionAndGradientAccumulation) {
  torch::set_num_threads(2);
  auto c = tiny_config("trainer_vpred");
  c.max_train_steps = 2;
  c.checkpoint_every = 2;
  auto losses = [](const TrainConfig& cfg) {
    std::vector<double> out;
    TrainCallbacks cb;
    cb.on_step = [&](const TrainStep& s) {
      out.push_back(s.loss);
      return true;
    };
    Trainer(cfg).run(cb);
    return out;
  };
  const auto eps = losses(c);
  auto v = c;
  v.output_dir += "-v";
  v.prediction_type = "v_prediction";
  v.snr_gamma = 5.0;
  const auto vl = losses(v);
  ASSERT_EQ(vl.size(), 2u);
  EXPECT_TRUE(std::isfinite(vl[0]));
  EXPECT_NE(vl[0], eps[0]) << "a different target gives a different loss on the same noise";
  auto acc = c;
  acc.output_dir += "-acc";
  acc.gradient_accumulation_steps = 2;
  const auto al = losses(acc);
  ASSERT_EQ(al.size(), 2u) << "steps count optimizer steps, not batches";
  EXPECT_NE(al[0], eps[0]) << "two batches averaged into the first step";
}

// The schedule inside run(), as diffusers' get_scheduler steps it (the scheduler steps after the optimizer, so the
// first update uses lambda(0)): cosine with 2 warmup steps over 4 gives factors 0, 1/2, 1, 1/2, for the UNet's and
// the token rows' groups alike, and an update at lr 0 leaves the LoRA as initialised (B zero: no change to the
// model; AdamW's weight decay is scaled by lr too).
TEST(Trainer, WarmupAndScheduleStepTheLearningRates) {
  torch::set_num_threads(1);
  auto c = tiny_config("trainer_warmup");
  c.max_train_steps = 4;
  c.checkpoint_every = 4;
  c.lr_scheduler = "cosine";
  c.lr_warmup_steps = 2;
  c.lr = 1e-3;
  c.text_encoder_lr = 4e-3;
  c.weight_decay = 0.1;
  c.pivotal = true;  // the token rows' group follows text_encoder_lr
  c.ti_frac = 1.0;
  std::vector<std::pair<double, double>> lrs;
  torch::Tensor first_up;
  Trainer trainer(c);
  const auto lora_up = [&] {
    for (const auto& p : trainer.model().unet->named_parameters())
      if (p.key().find("lora_B") != std::string::npos) return p.value().detach().clone();
    return torch::Tensor();
  };
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    lrs.emplace_back(s.lr, s.text_encoder_lr);
    if (s.step == 1) first_up = lora_up();
    return true;
  };
  trainer.run(cb);
  const std::vector<double> factors{0.0, 0.5, 1.0, 0.5};
  ASSERT_EQ(lrs.size(), factors.size());
  for (size_t i = 0; i < factors.size(); ++i) {
    EXPECT_NEAR(lrs[i].first, 1e-3 * factors[i], 1e-15) << "step " << i + 1;
    EXPECT_NEAR(lrs[i].second, 4e-3 * factors[i], 1e-15) << "step " << i + 1;
  }
  ASSERT_TRUE(first_up.defined()) << "no LoRA up weight found in the UNet";
  EXPECT_EQ(first_up.abs().max().item<double>(), 0.0) << "the step at lr 0 moved the LoRA";
  EXPECT_GT(lora_up().abs().max().item<double>(), 0.0) << "the later steps did not";
}
