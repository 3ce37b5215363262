#include "server/job.h"

#include <chrono>
#include <ctime>
#include <random>

#include "core/error.h"

namespace prtkl::server {

const char* to_string(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kError: return "error";
  }
  return "error";
}

JobState parse_job_state(const std::string& text) {
  if (text == "queued") return JobState::kQueued;
  if (text == "running") return JobState::kRunning;
  if (text == "done") return JobState::kDone;
  if (text == "error") return JobState::kError;
  fail("unknown job state '", text, "'");
}

Json Job::to_json() const {
  const bool done = state == JobState::kDone && kind != "preview";  // a preview's particles came in its events
  const std::string files = "/files/jobs/" + id + "/";
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json j = {{"id", id},
            {"kind", kind},
            {"state", to_string(state)},
            {"stage", stage},
            {"word", word},
            {"seed", seed},
            {"model", model},
            {"style", or_null(style)},
            {"scene", or_null(scene)},
            {"prompt", or_null(prompt)},
            {"step", step},
            {"steps", steps},
            {"image_url", done ? Json(files + (kind == "word" ? "image.png" : "image-0.png")) : Json(nullptr)},
            {"particles_url", done && kind == "word" ? Json(files + "particles.bin") : Json(nullptr)},
            {"particles_json_url", done && kind == "word" ? Json(files + "particles.json") : Json(nullptr)},
            {"particle_count", particle_count},
            {"created_at", created_at},
            {"timings",
             {{"queued_ms", timings.queued_ms},
              {"interpret_ms", timings.interpret_ms},
              {"generate_ms", timings.generate_ms},
              {"particles_ms", timings.particles_ms},
              {"total_ms", timings.total_ms}}},
            {"error", or_null(error)}};
  return j;
}

Json job_record(const Job& j) {
  return {{"id", j.id},           {"kind", j.kind},
          {"state", to_string(j.state)},
          {"stage", j.stage},     {"word", j.word},
          {"key", j.key},         {"seed", j.seed},
          {"model", j.model},     {"style", j.style},
          {"scene", j.scene},
          {"prompt", j.prompt},   {"negative_prompt", j.negative_prompt},
          {"step", j.step},       {"steps", j.steps},
          {"width", j.width},     {"height", j.height},
          {"count", j.count},     {"particle_count", j.particle_count},
          {"created_at", j.created_at},
          {"created_ms", j.created_ms},
          {"timings", {j.timings.queued_ms, j.timings.interpret_ms, j.timings.generate_ms, j.timings.particles_ms,
                       j.timings.total_ms}},
          {"error", j.error}};
}

Job job_from_record(const Json& r) {
  Job j;
  j.id = r.at("id");
  j.kind = r.at("kind");
  j.state = parse_job_state(r.at("state"));
  j.stage = r.at("stage");
  j.word = r.at("word");
  j.key = r.at("key");
  j.seed = r.at("seed");
  j.model = r.at("model");
  j.style = r.value("style", "");  // absent from records stored before styles
  j.scene = r.at("scene");
  j.prompt = r.at("prompt");
  j.negative_prompt = r.at("negative_prompt");
  j.step = r.at("step");
  j.steps = r.at("steps");
  j.width = r.at("width");
  j.height = r.at("height");
  j.count = r.at("count");
  j.particle_count = r.at("particle_count");
  j.created_at = r.at("created_at");
  j.created_ms = r.at("created_ms");
  const auto& t = r.at("timings");
  j.timings = {t.at(0), t.at(1), t.at(2), t.at(3), t.at(4)};
  j.error = r.at("error");
  return j;
}

std::string word_cache_key(const std::string& normalized_word, const std::string& style) {
  return style.empty() || style == "none" ? normalized_word : normalized_word + " @style:" + style;
}

std::string new_job_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(now_ms())};
  static const char* hex = "0123456789abcdef";
  std::string id = "j_";
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i, v >>= 4) id += hex[v & 15];
  return id;
}

bool valid_job_id(const std::string& id) {
  if (id.size() != 18 || id.rfind("j_", 0) != 0) return false;
  return id.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso8601(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace prtkl::server
