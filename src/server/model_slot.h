// The model `prtkl serve` draws with, and switching it while the server runs (AUTOMATIC1111's POST
// /sdapi/v1/options with `sd_model_checkpoint`, as Open WebUI and SillyTavern send it). A new model loads beside
// the old one; jobs that start after that draw with it, the running job finishes with the model it began with.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "diffusion/model_loader.h"
#include "interpret/interpreter.h"
#include "server/pipeline_renderer.h"

namespace prtkl::server {

// A loaded model with what the server needs beside it: its interpreter (the model's prompt and subjects come from
// its prtkl.json) and the renderer that draws with both.
struct ServedModel {
  std::string id;  // what jobs are cached under and clients are told: the name, plus adapters
  std::unique_ptr<StableDiffusionModel> model;
  std::unique_ptr<Interpreter> interpreter;
  std::unique_ptr<PipelineRenderer> renderer;
};

class ModelSlot : public JobRenderer {
 public:
  // `load` makes a ServedModel from a name (a path, or a name in the models folder); it throws prtkl::Error.
  using Loader = std::function<ServedModel(const std::string& name)>;
  ModelSlot(ServedModel first, Loader load);

  // Draws with the current model; the job is stored under that model's id, so a job queued before a switch is
  // cached as what drew it.
  void run(Job& job, JobProgress& progress) override;
  void discard(const Job& job) override;

  std::string id() const;
  StyleCatalog styles() const;  // the current model's
  // Loads `name` and makes it current; returns its id. On an error the current model stays.
  std::string switch_to(const std::string& name);

 private:
  Loader load_;
  mutable std::mutex mutex_;  // guards current_
  std::mutex switching_;      // one load at a time
  std::shared_ptr<ServedModel> current_;
};

}  // namespace prtkl::server
