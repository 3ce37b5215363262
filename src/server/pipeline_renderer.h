// The real work of a job: word -> scene -> prompt (Interpreter), the job's style put on the model and its
// template around the prompt, prompt -> image (StableDiffusionPipeline, with a Latent2RGB preview every few
// steps), image -> particles; results go to <data>/jobs/<id>/ (a preview's particles go in its event instead).
#pragma once
#include <algorithm>
#include <string>

#include "adapters/style.h"
#include "adapters/style_switch.h"
#include "diffusion/pipeline.h"
#include "interpret/interpreter.h"
#include "server/job_queue.h"

namespace prtkl::server {

struct RenderSettings {
  int64_t steps = 20;
  double guidance_scale = 7.0;
  std::string sampler = "euler";
  int particle_count = 8000;
  int previews = 5;  // step events that carry a preview image, spread over the run
  std::string data_dir;
  int64_t max_pixels = 4 << 20;  // images × width × height of one job, whatever its request asked
  // A preview (kind "preview") is a sketch that must keep up with typing: half the steps (2 of the bundled model's
  // 4 LCM steps) and a quarter of the particles, no latent images on the way.
  int64_t preview_steps() const { return std::max<int64_t>(1, steps / 2); }
  int preview_particles() const { return std::max(1, particle_count / 4); }
};

class PipelineRenderer : public JobRenderer {
 public:
  // `styles`: what jobs may ask for (Job::style); the model must be fully loaded when it offers any.
  PipelineRenderer(StableDiffusionModel& model, Interpreter& interpreter, RenderSettings settings,
                   StyleCatalog styles = {});
  void run(Job& job, JobProgress& progress) override;
  const StyleCatalog& styles() const { return styles_; }
  void discard(const Job& job) override;
  // <data>/jobs/<id>: where a job's files live.
  static std::string job_dir(const std::string& data_dir, const std::string& id);

 private:
  StableDiffusionModel& model_;
  StableDiffusionPipeline pipeline_;
  Interpreter& interpreter_;
  RenderSettings settings_;
  StyleCatalog styles_;
  StyleSwitch style_switch_;
};

}  // namespace prtkl::server
