#include "server/redis_job_queue.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "server/redis_schema.h"

namespace prtkl::server {

namespace rs = redis_schema;

namespace {

// Queues a job unless a word job with the same model, key and seed is in flight (then its id comes back) or the
// model's queue is full. The first event says where in the queue the job stands.
// KEYS: stream, job, events, inflight, models   ARGV: record, capacity, id, "1" for a word job, model
const char* kSubmitScript = R"lua(
if ARGV[4] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'existing', existing} end
end
local waiting = redis.call('XLEN', KEYS[1]) - redis.call('XPENDING', KEYS[1], 'workers')[1]
if waiting >= tonumber(ARGV[2]) then return {'full', tostring(waiting)} end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '0-*', 'name', 'queued', 'data', '{"position":' .. waiting .. '}')
redis.call('XADD', KEYS[1], '*', 'id', ARGV[3])
if ARGV[4] == '1' then redis.call('SET', KEYS[4], ARGV[3]) end
redis.call('SADD', KEYS[5], ARGV[5])
return {'queued', tostring(waiting)}
)lua";

// Cancels a job: a queued one ends here (its stream entry is skipped by the worker that reads it), a running one
// is flagged for its worker, which stops at its next progress report.
// KEYS: job, events, cancel flag, inflight   ARGV: the cancelled record, the error event's data, id
const char* kCancelScript = R"lua(
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local state = cjson.decode(raw)['state']
if state == 'queued' then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('XADD', KEYS[2], '0-*', 'name', 'error', 'data', ARGV[2])
  redis.call('EXPIRE', KEYS[2], 86400)
  if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
  return 1
end
if state == 'running' then
  redis.call('SET', KEYS[3], '1', 'EX', 3600)
  return 1
end
return 0
)lua";

}  // namespace

void ensure_job_stream(RedisPool& redis, const std::string& model) {
  try {
    redis.command({"XGROUP", "CREATE", rs::stream(model), rs::kGroup, "0", "MKSTREAM"});
  } catch (const Error& e) {
    if (std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
  }
}

std::optional<Job> read_job(RedisPool& redis, const std::string& id) {
  const auto r = redis.command({"GET", rs::job(id)});
  if (r.nil()) return std::nullopt;
  try {
    return job_from_record(Json::parse(r.str));
  } catch (const std::exception& e) {
    fail("Redis key ", rs::job(id), ": corrupt job record: ", e.what());
  }
}

RedisJobQueue::RedisJobQueue(RedisAddress address, size_t capacity)
    : redis_(std::move(address)), capacity_(capacity) {
  if (capacity_ == 0) fail("the job queue needs a capacity of at least 1");
  redis_.command({"PING"});  // fail at start, with the address, rather than at the first request
}

SubmitResult RedisJobQueue::submit(Job job) {
  const bool word = job.kind == "word";
  if (word) {
    const auto done = redis_.command({"GET", rs::done(job)});
    if (!done.nil())
      if (auto cached = read_job(redis_, done.str); cached && cached->state == JobState::kDone)
        return {SubmitResult::Outcome::kCached, *cached};
  }
  if (stopping_) return {SubmitResult::Outcome::kQueueFull, job, 1};
  job.state = JobState::kQueued;
  job.stage = "queued";
  const std::vector<std::string> command = {"EVAL", kSubmitScript, "5", rs::stream(job.model), rs::job(job.id),
                                            rs::events(job.id), rs::inflight(job), rs::kModels, job_record(job).dump(),
                                            std::to_string(capacity_), job.id, word ? "1" : "0", job.model};
  RedisReply r;
  try {
    r = redis_.command(command);
  } catch (const Error& e) {  // the model's first job (or a Redis restarted without its data): make the group
    if (std::string(e.what()).find("NOGROUP") == std::string::npos) throw;
    ensure_job_stream(redis_, job.model);
    r = redis_.command(command);
  }
  const auto& outcome = r[0].str;
  if (outcome == "existing") {
    if (auto existing = read_job(redis_, r[1].str)) return {SubmitResult::Outcome::kExisting, *existing};
    return submit(job);  // it ended between the two reads: ask again (the cache has it now)
  }
  if (outcome == "full") {
    // Without the in-process queue's job timings, a job's duration is unknown here: a few seconds per waiting job.
    const int waiting = std::stoi(r[1].str);
    return {SubmitResult::Outcome::kQueueFull, job, std::max(1, 2 * waiting / static_cast<int>(capacity_))};
  }
  return {SubmitResult::Outcome::kQueued, job};
}

std::optional<Job> RedisJobQueue::get(const std::string& id) { return read_job(redis_, id); }

std::optional<JobQueue::EventBatch> RedisJobQueue::events(const std::string& id, size_t cursor, int timeout_ms) {
  if (stopping_) return std::nullopt;
  const auto job = read_job(redis_, id);
  if (!job) return std::nullopt;
  EventBatch batch;
  batch.next_cursor = cursor;
  const auto r = redis_.command({"XREAD", "COUNT", "256", "BLOCK", std::to_string(std::max(1, timeout_ms)),
                                 "STREAMS", rs::events(id), "0-" + std::to_string(cursor)},
                                timeout_ms + 5000);
  if (stopping_) return std::nullopt;
  if (!r.nil()) {
    for (const auto& entry : r[0][1].elements) {
      const auto& entry_id = entry[0].str;
      batch.next_cursor = std::stoull(entry_id.substr(entry_id.find('-') + 1));
      JobEvent event{stream_field(entry, "name"), Json::parse(stream_field(entry, "data"))};
      batch.closed = event.name == "done" || event.name == "error";
      batch.events.push_back(std::move(event));
      if (batch.closed) break;
    }
    return batch;
  }
  // No new event. A finished job whose log expired (or was never here) replays its summary, as in-process.
  if (is_finished(job->state) && redis_.command({"EXISTS", rs::events(id)}).integer == 0) {
    if (cursor == 0 && !job->prompt.empty())
      batch.events.push_back({"prompt", {{"scene", job->scene}, {"prompt", job->prompt}}});
    batch.events.push_back(final_event(*job));
    batch.closed = true;
  }
  return batch;
}

std::optional<Job> RedisJobQueue::wait(const std::string& id, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t cursor = 0;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto batch = events(id, cursor, static_cast<int>(std::clamp<int64_t>(left.count(), 1, 1000)));
    if (!batch || batch->closed || left.count() <= 0) return get(id);
    cursor = batch->next_cursor;
  }
}

bool RedisJobQueue::cancel(const std::string& id) {
  auto job = read_job(redis_, id);
  if (!job || is_finished(job->state)) return false;
  Job cancelled = *job;
  cancelled.state = JobState::kError;
  cancelled.stage = "error";
  cancelled.error = kCancelledMessage;
  cancelled.timings.total_ms = now_ms() - cancelled.created_ms;
  const auto r = redis_.command({"EVAL", kCancelScript, "4", rs::job(id), rs::events(id), rs::cancel(id),
                                 rs::inflight(*job), job_record(cancelled).dump(),
                                 final_event(cancelled).data.dump(), id});
  return r.integer == 1;
}

std::vector<Job> RedisJobQueue::gallery(int64_t offset, int64_t limit) {
  std::vector<Job> out;
  if (limit <= 0) return out;
  const auto ids = redis_.command({"ZREVRANGE", rs::kGallery, std::to_string(offset), std::to_string(offset + limit - 1)});
  for (const auto& id : ids.elements)
    if (auto job = read_job(redis_, id.str)) out.push_back(std::move(*job));
  return out;
}

int64_t RedisJobQueue::gallery_size() { return redis_.command({"ZCARD", rs::kGallery}).integer; }

size_t RedisJobQueue::queue_length() {
  int64_t waiting = 0;
  for (const auto& model : redis_.command({"SMEMBERS", rs::kModels}).elements) {
    const auto stream = rs::stream(model.str);
    const auto pending = redis_.command({"XPENDING", stream, rs::kGroup});
    waiting += redis_.command({"XLEN", stream}).integer - pending[0].integer;
  }
  return static_cast<size_t>(std::max<int64_t>(0, waiting));
}

bool RedisJobQueue::busy() {
  const auto all = workers();
  return std::any_of(all.begin(), all.end(), [](const Json& w) { return w.value("state", "") == "busy"; });
}

Json RedisJobQueue::workers() {
  Json out = Json::array();
  const auto r = redis_.command({"HGETALL", rs::kWorkers});
  const auto now = now_ms();
  for (size_t i = 0; i + 1 < r.size(); i += 2) {
    Json w;
    try {
      w = Json::parse(r[i + 1].str);
    } catch (const std::exception&) {
      continue;  // not ours to interpret
    }
    if (now - w.value("seen_ms", int64_t{0}) > rs::kWorkerStaleMs) continue;  // gone (its entry ages out)
    w["name"] = r[i].str;
    out.push_back(std::move(w));
  }
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) { return a["name"] < b["name"]; });
  return out;
}

}  // namespace prtkl::server
