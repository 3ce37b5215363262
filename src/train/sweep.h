// A checkpoint sweep (DESIGN.md: training loss does not say which checkpoint looks best): every checkpoint of a
// training run × prompt × seed rendered on one loaded base model (switching LoRAs and embeddings per checkpoint),
// reusing the run's validation images where they match these settings. Writes the cells, sweep.json (the web
// sweep page's format), a labelled contact sheet and a static index.html.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/model_loader.h"

namespace prtkl {

struct SweepRequest {
  std::filesystem::path run;  // a `prtkl train` output folder
  std::filesystem::path out;  // empty: RUN/sweep
  std::vector<std::string> prompts;  // may say the run's token abstraction (TOK)
  std::vector<uint64_t> seeds;
  std::string model;  // empty: the run's config.json "model"
  // Unset: the run's validation settings, else generate's defaults.
  std::optional<int64_t> steps;
  std::optional<double> cfg;
  std::optional<std::string> sampler;
  int64_t width = 0, height = 0;  // 0: the model's native size
  std::vector<std::string> checkpoints;  // names (checkpoint-100, final); empty: all
  double lora_scale = 1.0;
  LoadOptions load;
  int threads = -1;  // as set_threads takes it; kAutoThreads: from the model's size
  std::function<void(int64_t done, int64_t total, const std::string& checkpoint)> progress;
  std::function<void(const std::string& line)> log;  // what was loaded, warnings
};

struct SweepResult {
  std::filesystem::path out;
  int64_t rendered = 0, reused = 0;
};

SweepResult run_sweep(const SweepRequest& request);

}  // namespace prtkl
