// One request of the web app: a word (or, for the OpenAI Images endpoint, a literal prompt) and what became of
// it. The store keeps jobs across restarts; the JSON shape is the one of docs/api.md.
#pragma once
#include <cstdint>
#include <string>

#include "core/json_config.h"

namespace prtkl::server {

enum class JobState { kQueued, kRunning, kDone, kError };
const char* to_string(JobState state);
JobState parse_job_state(const std::string& text);  // throws prtkl::Error

struct JobTimings {
  int64_t queued_ms = 0, interpret_ms = 0, generate_ms = 0, particles_ms = 0, total_ms = 0;
};

struct Job {
  std::string id;
  // "word": the web app; "preview": a word drawn cheaply as it is typed (JobQueue::submit_preview);
  // "prompt": /v1/images/generations (no interpretation)
  std::string kind = "word";
  JobState state = JobState::kQueued;
  std::string stage = "queued";  // queued, interpreting, generating, particles, done, error
  std::string word;              // as typed (kind "word")
  std::string key;               // normalised word: the cache key with seed and model
  uint64_t seed = 0;
  std::string model;
  // The style it is drawn in (src/adapters/style.h): a name or "none"; "" until resolved (a Redis front end
  // leaves the default to the worker). Part of the cache key (word_cache_key).
  std::string style;
  // prompt: a word job's is what the model was given (the style's template applied); a prompt job's is the
  // client's text (the model gets it in the style's template).
  std::string scene, prompt, negative_prompt;
  int64_t step = 0, steps = 0;
  int64_t width = 0, height = 0, count = 1;  // kind "prompt": size and number of images
  // kind "prompt": settings a request asked for (steps 0, guidance < 0, sampler empty: the server's), then what
  // ran. Not part of the cache key (word jobs never set them).
  double guidance_scale = -1;
  std::string sampler;
  int64_t particle_count = 0;
  std::string created_at;  // ISO 8601 UTC
  int64_t created_ms = 0;  // ms since the epoch, for timings and ordering
  JobTimings timings;
  std::string error;

  // The API view (docs/api.md); file URLs appear once the files exist.
  Json to_json() const;
};

// Every field, for the stores (SQLite, Redis) to keep and read back; job_from_record throws on a missing field.
Json job_record(const Job& job);
Job job_from_record(const Json& record);

// The cache key of a word job: the normalised word, plus the style unless it is "none" or "" (so a server
// without styles keys jobs as before).
std::string word_cache_key(const std::string& normalized_word, const std::string& style);

std::string new_job_id();     // "j_" + 16 random hex digits
// True only for the shape new_job_id makes. Every id that comes from outside this process (a URL, a Redis record)
// is checked with it before it names a key or a folder: an id is a path component (data/jobs/ID).
bool valid_job_id(const std::string& id);
int64_t now_ms();             // wall clock, ms since the epoch
std::string iso8601(int64_t ms);

}  // namespace prtkl::server
