#include "server/a1111_api.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace prtkl::server {

namespace {

struct SamplerRow {
  const char* id;
  const char* name;
  const char* schedule;
};
// prtkl's samplers by A1111's names; the first row of a name is its default ("Automatic") schedule.
constexpr SamplerRow kSamplers[] = {{"euler", "Euler", "Uniform"},          {"euler_karras", "Euler", "Karras"},
                                    {"euler_a", "Euler a", "Uniform"},      {"ddim", "DDIM", "Uniform"},
                                    {"dpmpp_2m_karras", "DPM++ 2M", "Karras"}, {"dpmpp_2m", "DPM++ 2M", "Uniform"},
                                    {"lcm", "LCM", "Uniform"}};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int64_t int_field(const Json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!body.contains(name) || body[name].is_null()) return fallback;
  const auto& v = body[name];
  // Clients send numbers; some send whole floats (512.0).
  if (!v.is_number() || std::floor(v.get<double>()) != v.get<double>())
    fail("'", name, "' must be an integer");
  const auto n = static_cast<int64_t>(v.get<double>());
  if (n < lo || n > hi) fail("'", name, "' must be from ", lo, " to ", hi, " (got ", n, ")");
  return n;
}

std::string string_field(const Json& body, const char* name) {
  if (!body.contains(name) || body[name].is_null()) return "";
  if (!body[name].is_string()) fail("'", name, "' must be a string");
  return body[name].get<std::string>();
}

}  // namespace

A1111Sampler a1111_sampler_of(const std::string& id) {
  for (const auto& row : kSamplers)
    if (id == row.id) return {row.id, row.name, row.schedule, true};
  fail("unknown sampler '", id, "'");
}

A1111Sampler resolve_a1111_sampler(const std::string& sampler_name, const std::string& scheduler) {
  std::string name = sampler_name, schedule = lower(scheduler);
  if (name.empty()) name = "Euler";  // A1111's sampler_index default
  for (const auto& row : kSamplers)  // prtkl's own ids pass through
    if (name == row.id) return {row.id, row.name, row.schedule, true};
  const std::string suffix = " karras";
  if (lower(name).size() > suffix.size() && lower(name).rfind(suffix) == name.size() - suffix.size()) {
    name = name.substr(0, name.size() - suffix.size());
    if (schedule.empty() || schedule == "automatic") schedule = "karras";
  }
  const std::string key = lower(name);
  const SamplerRow* first = nullptr;
  for (const auto& row : kSamplers) {
    if (lower(row.name) != key && "k_" + lower(row.id) != key) continue;
    if (!first) first = &row;
    if (schedule == lower(row.schedule)) return {row.id, row.name, row.schedule, true};
  }
  if (first) return {first->id, first->name, first->schedule, true};  // Automatic, or a schedule it lacks
  return {"dpmpp_2m_karras", "DPM++ 2M", "Karras", false};           // A1111's fallback for unknown names
}

Job parse_txt2img(const Json& body, const A1111Limits& limits, uint64_t random_seed) {
  if (!body.is_object()) fail("the body must be a JSON object");
  Job job;
  job.prompt = string_field(body, "prompt");
  if (job.prompt.size() > 4000) fail("'prompt' is longer than 4000 bytes");
  job.negative_prompt = string_field(body, "negative_prompt");
  if (job.negative_prompt.size() > 4000) fail("'negative_prompt' is longer than 4000 bytes");
  // Size: 0 means the model's own (A1111's 512 would be 8× the bundled model's 64).
  job.width = int_field(body, "width", 0, 64, limits.max_image_side);
  job.height = int_field(body, "height", 0, 64, limits.max_image_side);
  for (const auto side : {job.width, job.height})
    if (side % 8 != 0) fail("'width' and 'height' must be multiples of 8");
  job.count = int_field(body, "batch_size", 1, 1, limits.max_images) * int_field(body, "n_iter", 1, 1, limits.max_images);
  if (job.count > limits.max_images) fail("batch_size × n_iter is ", job.count, ", more than this server's ", limits.max_images);
  const int64_t side_w = job.width ? job.width : 512, side_h = job.height ? job.height : 512;
  if (job.count * side_w * side_h > limits.max_pixels)
    fail("images × width × height is more than this server's ", limits.max_pixels, " pixels per request");
  job.steps = int_field(body, "steps", 0, 1, 150);
  if (body.contains("cfg_scale") && !body["cfg_scale"].is_null()) {
    if (!body["cfg_scale"].is_number()) fail("'cfg_scale' must be a number");
    job.guidance_scale = body["cfg_scale"].get<double>();
    if (!(job.guidance_scale >= 0 && job.guidance_scale <= 30)) fail("'cfg_scale' must be from 0 to 30");
  }
  const auto sampler_name = string_field(body, "sampler_name").empty() ? string_field(body, "sampler_index")
                                                                      : string_field(body, "sampler_name");
  job.sampler = resolve_a1111_sampler(sampler_name, string_field(body, "scheduler")).id;
  const int64_t seed = int_field(body, "seed", -1, -1, 4294967295LL);
  job.seed = seed < 0 ? random_seed : static_cast<uint64_t>(seed);
  return job;
}

std::string a1111_style(const Json& body, const std::vector<std::string>& known) {
  if (!body.contains("styles") || body["styles"].is_null()) return "";
  const auto& styles = body["styles"];
  if (!styles.is_array()) fail("'styles' must be a list of style names");
  for (const auto& s : styles) {
    if (!s.is_string()) fail("'styles' must be a list of style names");
    const auto name = s.get<std::string>();
    if (known.empty() || std::find(known.begin(), known.end(), name) != known.end()) return name;
  }
  return "";  // prtkl has no A1111 prompt styles: names it does not know are ignored, as A1111 ignores missing ones
}

Json a1111_prompt_styles(const std::vector<StyleTemplate>& styles) {
  Json out = Json::array();
  for (const auto& s : styles) out.push_back({{"name", s.name}, {"prompt", s.prompt}, {"negative_prompt", ""}});
  return out;
}

Json txt2img_reply(const Job& job, const Json& request, const std::vector<std::string>& png_base64,
                   const std::vector<std::string>& infotexts) {
  const auto sampler = a1111_sampler_of(job.sampler);
  const auto n = static_cast<int64_t>(png_base64.size());
  // One seed draws the whole batch (prtkl's batches are not seed + i as A1111's are), so every image names it.
  Json info{{"prompt", job.prompt},
            {"all_prompts", Json(std::vector<std::string>(n, job.prompt))},
            {"negative_prompt", job.negative_prompt},
            {"all_negative_prompts", Json(std::vector<std::string>(n, job.negative_prompt))},
            {"seed", job.seed},
            {"all_seeds", Json(std::vector<uint64_t>(n, job.seed))},
            {"subseed", -1},
            {"all_subseeds", Json(std::vector<int64_t>(n, -1))},
            {"subseed_strength", 0},
            {"width", job.width},
            {"height", job.height},
            {"sampler_name", sampler.name},
            {"cfg_scale", job.guidance_scale},
            {"steps", job.steps},
            {"batch_size", n},
            {"restore_faces", false},
            {"face_restoration_model", nullptr},
            {"sd_model_name", job.model},
            {"sd_model_hash", nullptr},
            {"sd_vae_name", nullptr},
            {"sd_vae_hash", nullptr},
            {"seed_resize_from_w", -1},
            {"seed_resize_from_h", -1},
            {"denoising_strength", nullptr},
            {"extra_generation_params", {{"Schedule type", sampler.schedule}}},
            {"index_of_first_image", 0},
            {"infotexts", infotexts},
            {"styles", Json::array()},
            {"job_timestamp", job.created_at},
            {"clip_skip", 1},
            {"is_using_inpainting_conditioning", false},
            {"version", "prtkl"}};
  // The request as A1111 parsed it (its own fields with defaults filled; a client's extra keys are not echoed).
  const Json parameters{{"prompt", job.prompt},
                 {"negative_prompt", job.negative_prompt},
                 {"width", job.width},
                 {"height", job.height},
                 {"steps", job.steps},
                 {"cfg_scale", job.guidance_scale},
                 {"sampler_name", sampler.name},
                 {"scheduler", sampler.schedule},
                 {"batch_size", n},
                 {"n_iter", 1},
                 {"seed", request.is_object() && request.contains("seed") ? request["seed"] : Json(-1)},
                 {"send_images", true},
                 {"save_images", false}};
  return {{"images", png_base64}, {"parameters", parameters}, {"info", info.dump()}};
}

Json a1111_models(const std::vector<std::string>& names) {
  Json out = Json::array();
  for (const auto& name : names)
    out.push_back({{"title", name},
                   {"model_name", name},
                   {"hash", nullptr},
                   {"sha256", nullptr},
                   {"filename", name},
                   {"config", nullptr}});
  return out;
}

Json a1111_options(const std::string& model) {
  return {{"sd_model_checkpoint", model}, {"sd_vae", "Automatic"}, {"CLIP_stop_at_last_layers", 1},
          {"samples_format", "png"}};
}

Json a1111_samplers() {
  Json out = Json::array();
  std::vector<std::string> seen;
  for (const auto& row : kSamplers) {
    if (std::find(seen.begin(), seen.end(), row.name) != seen.end()) continue;
    seen.push_back(row.name);
    const std::string alias = std::string("k_") + row.id;
    out.push_back({{"name", row.name},
                   {"aliases", row.name == std::string("DDIM") ? Json::array() : Json::array({alias})},
                   {"options", Json::object()}});
  }
  return out;
}

Json a1111_schedulers() {
  return Json::array({{{"name", "automatic"}, {"label", "Automatic"}, {"aliases", nullptr}, {"default_rho", -1},
                       {"need_inner_model", false}},
                      {{"name", "uniform"}, {"label", "Uniform"}, {"aliases", nullptr}, {"default_rho", -1},
                       {"need_inner_model", true}},
                      {{"name", "karras"}, {"label", "Karras"}, {"aliases", nullptr}, {"default_rho", 7.0},
                       {"need_inner_model", false}}});
}

Json a1111_error(const std::string& type, const std::string& message) {
  return {{"error", type}, {"detail", message}, {"body", ""}, {"errors", message}};
}

}  // namespace prtkl::server
