// `prtkl train`: LoRA + textual inversion / pivotal tuning (docs/training.md). Every option can come from a JSON
// config (--config), a preset (--preset ready) or the command line; the resolved config is saved in the run.
#include <iostream>
#include <sstream>

#include "cli/progress_bar.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"
#include "dist/process_group.h"
#include "train/trainer.h"

namespace prtkl::cli {

namespace {

struct TrainArgs {
  std::string config, preset = "default", model, data, out, resume, optimizer, name, stage, distill;
  bool full = false;
  std::vector<std::string> sets;  // key=value, value as JSON (else a string)
  int64_t steps = 0;
  int threads = 0;
};

void run(const TrainArgs& a) {
  set_threads(a.threads);
  TrainConfig c = train_preset(a.preset);
  if (!a.config.empty()) c.apply_json(read_json_file(a.config), a.config);
  Json overrides = Json::object();
  if (!a.model.empty()) overrides["model"] = a.model;
  if (!a.data.empty()) overrides["data"] = a.data;
  if (!a.out.empty()) overrides["output_dir"] = a.out;
  if (!a.resume.empty()) overrides["resume"] = a.resume;
  if (!a.optimizer.empty()) overrides["optimizer"] = a.optimizer;
  if (!a.name.empty()) overrides["name"] = a.name;
  if (a.steps > 0) overrides["max_train_steps"] = a.steps;
  if (a.full) overrides["full"] = true;
  if (!a.stage.empty()) overrides["stage"] = a.stage;
  if (!a.distill.empty()) overrides["distill"] = a.distill;
  for (const auto& kv : a.sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) fail("--set ", kv, ": expected key=value");
    const auto value = kv.substr(eq + 1);
    try {
      overrides[kv.substr(0, eq)] = Json::parse(value);
    } catch (const Json::exception&) {
      overrides[kv.substr(0, eq)] = value;  // a bare string
    }
  }
  c.apply_json(overrides, "the command line");

  // One rank of a distributed run when launched so (prtkl launch, torchrun's variables): rank 0 reports.
  std::shared_ptr<ProcessGroup> group;
  if (const auto env = DistributedEnv::from_environment()) {
    std::cerr << "rank " << env->rank << " of " << env->world_size << ": joining " << env->master_addr << ":"
              << env->master_port << "\n";
    if (c.device == "cuda") c.device = "cuda:" + std::to_string(env->local_rank);  // one GPU per local rank
    group = std::make_shared<ProcessGroup>(*env, parse_device(c.device), std::chrono::minutes(30));
  }
  const bool quiet = group && group->rank() != 0;
  if (!quiet) std::cerr << "loading " << c.model << " and the data\n";
  Trainer trainer(c, group);
  if (quiet) {
    trainer.run();
    return;
  }
  const auto& rc = trainer.config();
  std::cerr << "training " << rc.max_train_steps << " steps into " << rc.output_dir << " (" << name_of(rc.optimizer);
  if (rc.full)
    std::cerr << ", full " << name_of(rc.stage)
              << (rc.stage == TrainStage::kUNet && rc.train_text_encoder ? " + text encoder" : "") << ", EMA "
              << rc.ema_decay;
  else
    std::cerr << ", rank " << rc.rank;
  if (rc.distill != Distillation::kNone)
    std::cerr << ", " << name_of(rc.distill) << " distillation of CFG " << rc.lcm_guidance << ", EMA " << rc.ema_decay;
  std::cerr << ", lr " << rc.lr << (rc.pivotal ? ", pivotal tuning" : "");
  if (group) std::cerr << ", " << group->world_size() << " ranks × batch " << rc.batch_size;
  std::cerr << ")\n";
  ProgressBar bar("train");
  TrainCallbacks cb;
  cb.on_step = [&](const TrainStep& s) {
    std::ostringstream extra;
    extra.precision(4);
    extra << "loss " << s.loss << " lr " << s.lr << (s.ti_frozen ? "" : " (TI)");
    bar.update(s.step, s.total, extra.str());
    return true;
  };
  cb.log = [](const std::string& line) { std::cerr << "\n" << line << "\n"; };
  const auto result = trainer.run(cb);
  bar.finish();
  if (!result.skipped.empty()) std::cerr << result.skipped.size() << " image(s) skipped (listed above)\n";
  std::cout << result.output_dir << "\n";
}

RegisterSubcommand reg("train", [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Fine-tune a style: LoRA + textual inversion / pivotal tuning");
  sub->add_option("--config,-c", a->config, "JSON file with any training options (docs/training.md)");
  sub->add_option("--preset", a->preset, "default | ready (pivotal, rank 16, lr 7e-5, TE lr 2e-4, ti_frac 0.3, 2200 steps)")
      ->capture_default_str();
  sub->add_option("--model,-m", a->model, "base model (diffusers folder or single file)");
  sub->add_option("--data,-d", a->data, "image folder with .txt captions, or metadata.jsonl");
  sub->add_option("--out,-o", a->out, "run folder (checkpoints, logs, outputs)");
  sub->add_option("--steps", a->steps, "optimizer steps (max_train_steps)");
  sub->add_option("--optimizer", a->optimizer, "adamw | prodigy");
  sub->add_option("--name", a->name, "output name: <name>.safetensors, <name>_emb.safetensors");
  sub->add_flag("--full", a->full, "train the model's own weights (no LoRA): from scratch or further");
  sub->add_option("--stage", a->stage,
                  "with --full: unet (UNet, + text encoder with train_text_encoder) | vae | vae_decoder (encoder frozen)");
  sub->add_option("--distill", a->distill,
                  "lcm: distil the model into an LCM-LoRA (latent consistency: 2-8 steps with --sampler lcm)")
      ->check(CLI::IsMember({"lcm"}));
  sub->add_option("--resume", a->resume, "latest | a checkpoint folder");
  sub->add_option("--set", a->sets, "any option as key=value (value in JSON), repeatable, e.g. --set rank=8");
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
