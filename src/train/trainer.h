// `prtkl train`: LoRA on the UNet (and optionally the text encoders) with textual inversion / pivotal tuning,
// the way diffusers' advanced DreamBooth LoRA script trains, minus its known flaws (docs/training.md):
// resume restores everything (new token rows, optimizer, schedule, RNG, position in the epoch), cached latents
// stay with their own sample, only the new token rows are optimizer parameters and they are truly frozen after
// the pivot (ti_frac counts optimizer steps), captions are tokenized exactly as at inference, Prodigy works
// with pivotal tuning by default, plus aspect-ratio buckets and a held-out validation loss.
//
// Run folder: config.json, loss.csv, loss.svg, checkpoint-<step>/ (adapters + training_state.safetensors +
// state.json + validation/), and the final pytorch_lora_weights.safetensors, <name>.safetensors (kohya) and
// <name>_emb.safetensors. A checkpoint is written to a temporary folder and renamed, so a kill -9 at any moment
// leaves the newest complete checkpoint loadable.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/model_loader.h"
#include "train/train_config.h"

namespace prtkl {

struct TrainStep {
  int64_t step, total;  // optimizer steps, 1-based
  double loss, lr, text_encoder_lr;
  bool ti_frozen;
};

struct TrainCallbacks {
  // After every optimizer step; return false to stop after it (tests simulate an interruption this way).
  std::function<bool(const TrainStep&)> on_step;
  std::function<void(const std::string&)> log;  // one line of news: checkpoints, validation, skipped images
};

struct TrainResult {
  int64_t steps = 0;  // optimizer steps done in total
  bool finished = false;  // reached max_train_steps (final outputs written)
  std::string output_dir;
  std::vector<std::string> skipped;  // unreadable images
};

class ProcessGroup;

class Trainer {
 public:
  // Resolves the config, loads the model and the data, sets up adapters. With a process group, this is one rank
  // of a data-parallel run (docs/scaling.md): batch_size is per rank, rank 0 writes the run folder.
  explicit Trainer(TrainConfig config, std::shared_ptr<ProcessGroup> group = nullptr);
  ~Trainer();
  TrainResult run(const TrainCallbacks& callbacks = {});
  const TrainConfig& config() const;
  // The model being trained (adapters live in it): tests compare it with what the saved files reproduce.
  StableDiffusionModel& model();
  // Mean loss over the training samples with fixed noise and timesteps (no update): comparable before and after.
  double fixed_noise_loss();

  // The checkpoint folder `resume` names: "latest" (the highest step in output_dir) or a path. Empty when
  // "latest" finds none.
  static std::string find_checkpoint(const std::string& output_dir, const std::string& resume);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace prtkl
