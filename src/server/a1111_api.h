// AUTOMATIC1111's web API (/sdapi/v1) in the shapes its clients send and read (Open WebUI's image backend,
// SillyTavern, bots; ../shared/notes/a1111-api-clients.md): requests become prtkl jobs, jobs become replies.
#pragma once
#include <string>
#include <vector>

#include "core/json_config.h"
#include "server/job.h"

namespace prtkl::server {

// A sampler as A1111 names it since v1.9: the sampler and its schedule ("DPM++ 2M" + "Karras").
struct A1111Sampler {
  std::string id;         // prtkl's (make_scheduler, scheduler_names)
  std::string name;       // A1111's sampler_name
  std::string schedule;   // A1111's scheduler label
  bool known = true;      // false: an unknown name, replaced by A1111's own fallback ("DPM++ 2M")
};

// sampler_name and scheduler as A1111 resolves them: a combined "DPM++ 2M Karras" is split, "Automatic" (or none)
// is the sampler's default schedule (Karras for DPM++ 2M), no name at all is "Euler".
A1111Sampler resolve_a1111_sampler(const std::string& sampler_name, const std::string& scheduler);
A1111Sampler a1111_sampler_of(const std::string& id);  // the A1111 names of one of prtkl's samplers

struct A1111Limits {
  int64_t max_images = 4, max_image_side = 2048, max_pixels = 4 << 20;
};

// POST /sdapi/v1/txt2img's body -> a "prompt" job (prompt, negative prompt, size, count = batch_size × n_iter,
// seed (-1: random), steps, cfg_scale, sampler). Unknown fields are ignored, as A1111 ignores them. Throws
// prtkl::Error naming the field.
Job parse_txt2img(const Json& body, const A1111Limits& limits, uint64_t random_seed);

// The style of a txt2img body's `styles` (A1111's list of prompt styles): the first entry among `known` (the
// served model's style names); with no `known` (a Redis front end) the first entry. "" when none matches, which
// means the default style. Throws prtkl::Error when `styles` is not a list of strings.
std::string a1111_style(const Json& body, const std::vector<std::string>& known);

// GET /sdapi/v1/prompt-styles: the served model's styles as A1111 prompt styles, whose prompts carry {prompt}
// where the user's prompt goes as prtkl's templates do.
struct StyleTemplate {
  std::string name, prompt;
};
Json a1111_prompt_styles(const std::vector<StyleTemplate>& styles);

// The txt2img reply: images (bare base64 PNGs), parameters (the request with its defaults filled) and info (a JSON
// string, as A1111's Processed.js()). infotexts: each image's "parameters" text.
Json txt2img_reply(const Job& job, const Json& request, const std::vector<std::string>& png_base64,
                   const std::vector<std::string>& infotexts);

// GET /sdapi/v1/sd-models, /options, /samplers, /schedulers.
Json a1111_models(const std::vector<std::string>& names);  // the served model first
Json a1111_options(const std::string& model);
Json a1111_samplers();
Json a1111_schedulers();

// A1111's error body: {"error": type, "detail": message, "body": "", "errors": message}.
Json a1111_error(const std::string& type, const std::string& message);

}  // namespace prtkl::server
