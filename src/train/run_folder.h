// The one owner of a training run folder's layout (docs/training.md): the trainer writes it, resume, `prtkl sweep`
// and the tests read it back through this type.
//
//   RUN/config.json, loss.csv, loss.svg
//   RUN/checkpoint-<step>/   pytorch_lora_weights.safetensors (PEFT), NAME.safetensors (kohya),
//                            NAME_emb.safetensors, training_state.safetensors, state.json, validation/
//                            (full training: model/ in place of the adapters)
//   RUN/                     the final outputs under the same names once max_train_steps is reached
// A folder named *.partial* is a write that has not finished (a checkpoint is written there and renamed).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace prtkl {

class RunFolder {
 public:
  static constexpr const char* kLoraFile = "pytorch_lora_weights.safetensors";
  static constexpr const char* kStateFile = "training_state.safetensors";
  static constexpr const char* kStateJson = "state.json";
  static constexpr const char* kModelDir = "model";
  static constexpr const char* kValidationDir = "validation";
  static constexpr const char* kValidationIndex = "index.json";  // in a validation folder: prompt, seed, settings

  // `name`: the run's name (config "name"), the stem of its kohya and embedding files; empty when unknown.
  explicit RunFolder(std::filesystem::path dir, std::string name = "");

  const std::filesystem::path& dir() const { return dir_; }
  std::string kohya_file() const { return name_ + ".safetensors"; }
  std::string embeddings_file() const { return name_ + "_emb.safetensors"; }
  std::string initial_embeddings_file() const { return name_ + "_emb_init.safetensors"; }

  static std::string checkpoint_name(int64_t step);
  // The step of a checkpoint-<step> folder; -1 for any other name (also checkpoint-<step>.partial).
  static int64_t checkpoint_step(const std::filesystem::path& dir);
  std::filesystem::path checkpoint(int64_t step) const { return dir_ / checkpoint_name(step); }
  // Where checkpoint `step` is written before it is renamed into place.
  std::filesystem::path partial_checkpoint(int64_t step) const { return dir_ / (checkpoint_name(step) + ".partial"); }

  // Every checkpoint-<step> folder, by step.
  std::vector<std::pair<int64_t, std::filesystem::path>> checkpoints() const;
  // The newest checkpoint a run can go on from (it has state.json), if any.
  std::optional<std::filesystem::path> latest_resumable() const;
  // The embeddings in `dir` (a checkpoint or the run): NAME_emb.safetensors, else the only *_emb.safetensors.
  std::optional<std::filesystem::path> embeddings_in(const std::filesystem::path& dir) const;

  // Removes what a killed write left (*.partial*).
  void remove_partial_writes() const;
  // Removes all but the newest `keep` checkpoints (keep <= 0: none removed).
  void keep_newest(int64_t keep) const;

 private:
  std::filesystem::path dir_;
  std::string name_;
};

}  // namespace prtkl
