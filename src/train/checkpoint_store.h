// What a run needs to go on exactly where it stopped (docs/training.md): the trainable tensors, their EMA, the
// optimizer's state, both random generators, the step and the position in the epoch. It is kept in each
// checkpoint-<step>/ beside that checkpoint's outputs; a checkpoint is written to a temporary folder and renamed,
// so a kill -9 at any moment leaves the newest complete checkpoint loadable.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <vector>

#include "core/safetensors.h"
#include "train/run_folder.h"

namespace prtkl {

class Optimizer;

// The live training state, by reference: written from, and restored into, the tensors the run trains with.
struct TrainingStateRefs {
  const std::vector<torch::Tensor>& params;  // the trainable tensors, in the trainer's order
  const std::vector<torch::Tensor>& ema;     // their EMA (full training, distillation), else empty
  Optimizer& optimizer;
  at::Generator& train_rng;    // noise, timesteps, latent samples
  at::Generator& default_rng;  // LoRA dropout
};

struct TrainingPosition {
  int64_t step = 0;        // optimizer steps done
  int64_t micro_step = 0;  // batches consumed
  bool ti_frozen = false;  // the token rows had stopped training (informative)
};

// Writes checkpoint-<position.step>: `write_outputs(dir)` puts the adapters or the model there, then the state
// goes beside them; the folder is renamed into place and the oldest beyond `keep` (> 0) removed. Returns it.
std::filesystem::path write_checkpoint(const RunFolder& run, const TrainingPosition& position,
                                       const TrainingStateRefs& state, int64_t keep,
                                       const std::function<void(const std::filesystem::path&)>& write_outputs);

// Copies the state in checkpoint folder `dir` into `state` (its tensors checked against this run's, errors name
// the folder and the tensor) and returns where the run stood.
TrainingPosition read_checkpoint(const std::filesystem::path& dir, const TrainingStateRefs& state);

}  // namespace prtkl
