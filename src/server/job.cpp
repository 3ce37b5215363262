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
  const bool done = state == JobState::kDone;
  const std::string files = "/files/jobs/" + id + "/";
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json j = {{"id", id},
            {"kind", kind},
            {"state", to_string(state)},
            {"stage", stage},
            {"word", word},
            {"seed", seed},
            {"model", model},
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

std::string new_job_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(now_ms())};
  static const char* hex = "0123456789abcdef";
  std::string id = "j_";
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i, v >>= 4) id += hex[v & 15];
  return id;
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
