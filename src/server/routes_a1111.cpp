// AUTOMATIC1111's web API (/sdapi/v1, a1111_api.h) over the same queue, limits and store as the rest.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/base64.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "diffusion/models_folder.h"
#include "server/a1111_api.h"
#include "server/bounded_head_server.h"
#include "server/http_server.h"
#include "server/model_slot.h"
#include "server/pipeline_renderer.h"
#include "server/routes.h"

namespace prtkl::server {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> HttpServer::switchable_models() const {
  std::vector<std::pair<std::string, std::string>> out = {{model_id(), model_id()}};
  if (!options_.model_slot) return out;
  const auto listed = [&](const std::string& name) {
    return std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == name; });
  };
  // The model the server started with (its loader reloads it, flags and adapters included, by its id).
  if (!options_.model.empty() && !listed(options_.model)) out.emplace_back(options_.model, options_.model);
  // The models folder's, by their path there: a same-named folder where the server runs is never loaded instead.
  for (const auto& e : list_models(models_dir()))
    if (e.kind == "model" && e.error.empty() && !listed(e.name)) out.emplace_back(e.name, e.path);
  return out;
}

// Clients build URLs from a base that often ends in "/", so "//sdapi/..." is answered too.
void HttpServer::a1111_routes() {
  auto& h = *http_;
  h.Get(R"(/+sdapi/v1/options)", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_options(model_id()));
  });
  // Clients post back the whole options object with the checkpoint changed; only the checkpoint matters here. Only
  // a name GET /sdapi/v1/sd-models lists is loaded, and every refusal (a path, a name not listed, a listed model
  // that fails to load) gets one answer: nothing a client sends is looked up on disk, nothing tells it what exists.
  h.Post(R"(/+sdapi/v1/options)", [this](const httplib::Request& req, httplib::Response& res) {
    Json body;
    try {
      body = parse_body(req);
    } catch (const Error& e) {
      return reply(res, 422, a1111_error("ValidationError", e.what()));
    }
    const auto current = model_id();
    if (!body.contains("sd_model_checkpoint") || body["sd_model_checkpoint"] == current)
      return reply(res, 200, nullptr);
    const auto& wanted = body["sd_model_checkpoint"];
    const auto refuse_switch = [&] {
      // A1111's answer to a checkpoint it does not know (a 500 RuntimeError), which its clients expect.
      reply(res, 500, a1111_error("RuntimeError", "model not found: sd_model_checkpoint must be one of the names "
                                                  "GET /sdapi/v1/sd-models lists; the served model stays"));
    };
    if (!options_.model_slot || !wanted.is_string()) return refuse_switch();
    std::string target;
    for (const auto& [name, load_as] : switchable_models())
      if (name == wanted.get<std::string>()) target = load_as;
    if (target.empty()) return refuse_switch();
    // Loads while the request waits, as A1111 does; jobs keep running on the current model meanwhile.
    try {
      options_.model_slot->switch_to(target);
    } catch (const Error& e) {
      std::cerr << "switching to model " << target << " failed: " << e.what() << "\n";
      return refuse_switch();
    }
    reply(res, 200, nullptr);
  });
  h.Get(R"(/+sdapi/v1/sd-models)", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<std::string> names;
    for (const auto& entry : switchable_models()) names.push_back(entry.first);
    reply(res, 200, a1111_models(names));
  });
  h.Get(R"(/+sdapi/v1/prompt-styles)", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<StyleTemplate> templates;
    const auto catalog = options_.model_slot ? options_.model_slot->styles() : StyleCatalog{};
    for (const auto& st : catalog.styles) templates.push_back({st.name, st.prompt_template});
    reply(res, 200, a1111_prompt_styles(templates));
  });
  h.Get(R"(/+sdapi/v1/samplers)", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_samplers());
  });
  h.Get(R"(/+sdapi/v1/schedulers)", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_schedulers());
  });
  h.Get(R"(/+sdapi/v1/progress)", [this](const httplib::Request&, httplib::Response& res) {
    const auto count = static_cast<int64_t>(jobs_.queue_length()) + (jobs_.busy() ? 1 : 0);
    reply(res, 200,
          {{"progress", 0},
           {"eta_relative", 0},
           {"state",
            {{"skipped", false}, {"interrupted", false}, {"stopping_generation", false}, {"job", ""},
             {"job_count", count}, {"job_timestamp", "0"}, {"job_no", 0}, {"sampling_step", 0},
             {"sampling_steps", 0}}},
           {"current_image", nullptr},
           {"textinfo", nullptr}});
  });
  h.Post(R"(/+sdapi/v1/txt2img)", [this](const httplib::Request& req, httplib::Response& res) {
    Json body;
    Job job;
    try {
      body = parse_body(req);
      job = parse_txt2img(body, {options_.max_images, options_.max_image_side, options_.max_pixels}, random_seed());
      job.style = job_style(a1111_style(body, style_names()));
    } catch (const Error& e) {
      return reply(res, 422, a1111_error("ValidationError", e.what()));
    }
    job.id = new_job_id();
    const auto done = run_held_job(req, res, job, [](int status, const std::string& m) {
      return a1111_error(status == 500 ? "RuntimeError" : "HTTPException", m);
    });
    if (!done) return;
    std::vector<std::string> images, infotexts;
    for (int64_t i = 0; i < done->count; ++i) {
      const auto file = fs::path(PipelineRenderer::job_dir(options_.data_dir, job.id)) /
                        ("image-" + std::to_string(i) + ".png");
      images.push_back(base64_encode(read_file(file.string())));
      const auto text = read_png_text(file.string());
      infotexts.push_back(text.count("parameters") ? text.at("parameters") : "");
    }
    reply(res, 200, txt2img_reply(*done, body, images, infotexts));
  });
}

}  // namespace prtkl::server
