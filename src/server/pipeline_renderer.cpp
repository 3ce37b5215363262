#include "server/pipeline_renderer.h"

#include <filesystem>
#include <iostream>

#include "core/base64.h"
#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/latent_preview.h"
#include "particles/particles.h"

namespace prtkl::server {

namespace fs = std::filesystem;

PipelineRenderer::PipelineRenderer(StableDiffusionModel& model, Interpreter& interpreter, RenderSettings settings,
                                   StyleCatalog styles)
    : model_(model),
      pipeline_(model),
      interpreter_(interpreter),
      settings_(std::move(settings)),
      styles_(std::move(styles)),
      style_switch_(model) {}

std::string PipelineRenderer::job_dir(const std::string& data_dir, const std::string& id) {
  // The last guard before a folder is made, written or removed: "../x" or "/x" never becomes a path.
  if (!valid_job_id(id)) fail("refused to make a job folder of ", Json(id.substr(0, 64)).dump(), ": not a job id");
  return (fs::path(data_dir) / "jobs" / id).string();
}

void PipelineRenderer::discard(const Job& job) {
  if (valid_job_id(job.id)) fs::remove_all(job_dir(settings_.data_dir, job.id));
}

void PipelineRenderer::run(Job& job, JobProgress& progress) {
  auto t0 = now_ms();
  const bool preview = job.kind == "preview";
  GenerateParams params;
  params.steps = preview ? settings_.preview_steps() : settings_.steps;
  params.guidance_scale = settings_.guidance_scale;
  params.sampler = settings_.sampler;
  params.seed = job.seed;
  const Style* style = styles_.find(job.style);  // an unknown style fails the job before any work
  job.style = style ? style->name : kNoStyle;
  if (job.kind != "prompt") {
    progress.stage(job, "interpreting");
    const auto interpretation = interpreter_.interpret(job.word);
    job.scene = interpretation.scene;
    job.prompt = style ? style->wrap(interpretation.prompt) : interpretation.prompt;
    job.negative_prompt = interpretation.negative_prompt;
    job.timings.interpret_ms = now_ms() - t0;
    progress.event(job, {"prompt", {{"scene", job.scene}, {"prompt", job.prompt}}});
  } else {
    params.width = job.width;
    params.height = job.height;
    params.num_images = job.count;
    if (job.steps > 0) params.steps = job.steps;
    if (job.guidance_scale >= 0) params.guidance_scale = job.guidance_scale;
    if (!job.sampler.empty()) params.sampler = job.sampler;
  }
  // Jobs run one at a time per renderer, so the model carries this job's style until the next job switches it.
  for (const auto& w : style_switch_.use(style)) std::cerr << "prtkl serve: warning: " << w << "\n";
  // A word job's prompt is wrapped above; a prompt job keeps the client's text (a retried job is not wrapped
  // twice) and only the model sees the style's template.
  params.prompt = job.kind != "prompt" || !style ? job.prompt : style->wrap(job.prompt);
  params.negative_prompt = job.negative_prompt;
  params.has_negative_prompt = !job.negative_prompt.empty();
  params = pipeline_.resolve(params);
  if (params.num_images * params.width * params.height > settings_.max_pixels)
    fail(params.num_images, " × ", params.width, "×", params.height, " pixels are more than the budget of ",
         settings_.max_pixels);
  job.steps = params.steps;
  job.guidance_scale = params.guidance_scale;
  job.sampler = params.sampler;
  job.width = params.width;
  job.height = params.height;

  progress.stage(job, "generating");
  t0 = now_ms();
  const int previews = preview ? 0 : settings_.previews;
  const int64_t every = std::max<int64_t>(1, params.steps / std::max(1, previews));
  auto result = pipeline_.generate(params, [&](const StepEvent& e) {
    job.step = e.step;
    Json data = {{"step", e.step}, {"steps", e.total}};
    if (previews > 0 && (e.step % every == 0 || e.step == e.total))
      data["preview"] = "data:image/png;base64," + base64_encode(encode_png(latent_preview(e.latents[0], model_.family)));
    progress.event(job, {"step", std::move(data)});
  });
  job.timings.generate_ms = now_ms() - t0;
  for (const auto& n : result.notices) std::cerr << "prtkl serve: " << model_.name << ": " << n << "\n";

  const auto images = to_images(result.images);
  if (preview) {  // nothing on disk: the page draws the particles from the event
    progress.stage(job, "particles");
    t0 = now_ms();
    const auto particles = make_particles(images[0], {settings_.preview_particles(), job.seed});
    job.particle_count = static_cast<int64_t>(particles.particles.size());
    job.timings.particles_ms = now_ms() - t0;
    progress.event(
        job, {"particles",
              {{"count", job.particle_count},
               {"data", "data:application/octet-stream;base64," + base64_encode(particles_to_binary(particles))}}});
    return;
  }
  const auto dir = job_dir(settings_.data_dir, job.id);
  fs::create_directories(dir);
  const auto parameters = a1111_parameters(params, result.sampler_display_name, model_.name);
  if (job.kind != "word") {
    for (size_t i = 0; i < images.size(); ++i)
      write_png((fs::path(dir) / ("image-" + std::to_string(i) + ".png")).string(), images[i],
                {{"parameters", parameters}});
    return;
  }
  write_png((fs::path(dir) / "image.png").string(), images[0], {{"parameters", parameters}});

  progress.stage(job, "particles");
  t0 = now_ms();
  const auto particles = make_particles(images[0], {settings_.particle_count, job.seed});
  write_file_atomic((fs::path(dir) / "particles.bin").string(), particles_to_binary(particles));
  write_file_atomic((fs::path(dir) / "particles.json").string(), particles_to_json(particles));
  job.particle_count = static_cast<int64_t>(particles.particles.size());
  job.timings.particles_ms = now_ms() - t0;
  progress.event(job, {"particles",
                       {{"count", job.particle_count}, {"url", "/files/jobs/" + job.id + "/particles.bin"}}});
}

}  // namespace prtkl::server
