#include "server/redis_worker.h"

#include <unistd.h>

#include <chrono>
#include <iostream>

#include "core/error.h"
#include "server/job_executor.h"
#include "server/redis_job_queue.h"
#include "server/redis_schema.h"
#include "server/request_limits.h"

namespace prtkl::server {

namespace rs = redis_schema;

namespace {

// Takes a job for this worker: it becomes the owner and one more attempt is counted. "gone" when the job ended
// meanwhile (cancelled while queued), "exhausted" when too many workers died running it, "corrupt" when the
// record is no JSON object (a record cjson cannot decode would otherwise fail the script on every retry).
// KEYS: job, owner, attempts   ARGV: worker, max attempts
const char* kStartScript = R"lua(
local raw = redis.call('GET', KEYS[1])
if not raw then return {'gone'} end
local ok, record = pcall(cjson.decode, raw)
if not ok or type(record) ~= 'table' then return {'corrupt'} end
local state = record['state']
if state == 'done' or state == 'error' then return {'gone'} end
redis.call('SET', KEYS[2], ARGV[1])
if redis.call('INCR', KEYS[3]) > tonumber(ARGV[2]) then return {'exhausted', raw} end
return {'run', raw}
)lua";

}  // namespace

std::string default_worker_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

RedisWorker::RedisWorker(RedisAddress address, JobRenderer& renderer, WorkerOptions options)
    : redis_(std::move(address)), renderer_(renderer), options_(std::move(options)) {
  if (options_.name.empty()) options_.name = default_worker_name();
  if (options_.model.empty()) fail("a worker needs the id of the model it holds");
  if (options_.visibility_timeout_ms < 3 * options_.heartbeat_ms)
    fail("the visibility timeout must be at least 3 heartbeats (", 3 * options_.heartbeat_ms, " ms)");
  stream_ = rs::stream(options_.model);
  ensure_job_stream(redis_, options_.model);
  announce();
  heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

RedisWorker::~RedisWorker() {
  stopping_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  try {
    redis_.command({"HDEL", rs::kWorkers, options_.name});
  } catch (const std::exception&) {  // Redis gone: the entry ages out
  }
}

void RedisWorker::announce() {
  // Under the lock, so an announcement from the heartbeat can never overwrite a newer one from the job's start.
  std::lock_guard lock(current_mutex_);
  Json w = {{"model", options_.model}, {"state", current_job_.empty() ? "idle" : "busy"}, {"seen_ms", now_ms()}};
  if (!current_job_.empty()) w["job"] = current_job_;
  redis_.command({"HSET", rs::kWorkers, options_.name, w.dump()});
}

void RedisWorker::heartbeat_loop() {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    next += std::chrono::milliseconds(options_.heartbeat_ms);
    std::string entry, job;
    {
      std::lock_guard lock(current_mutex_);
      entry = current_entry_;
      job = current_job_;
    }
    try {
      announce();
      // Resets the entry's idle time, so nobody reclaims a job that is merely slow. Only while this worker still
      // owns it: a job taken over is the new owner's to keep fresh.
      if (!entry.empty() && redis_.command({"GET", rs::owner(job)}).str == options_.name)
        redis_.command({"XCLAIM", stream_, rs::kGroup, options_.name, "0", entry, "JUSTID"});
    } catch (const std::exception& e) {
      std::cerr << "worker " << options_.name << ": heartbeat: " << e.what() << "\n";
    }
    while (!stopping_ && std::chrono::steady_clock::now() < next)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisWorker::run() {
  while (!stopping_) {
    try {
      run_one(1000);
    } catch (const std::exception& e) {  // Redis restarting, say: try again shortly
      std::cerr << "worker " << options_.name << ": " << e.what() << "\n";
      std::this_thread::sleep_for(std::chrono::seconds(1));
      try {  // a Redis restarted without its data has no group any more
        if (std::string(e.what()).find("NOGROUP") != std::string::npos) ensure_job_stream(redis_, options_.model);
      } catch (const std::exception&) {
      }
    }
  }
}

bool RedisWorker::run_one(int block_ms) {
  // A job whose worker went silent first, then a new one.
  const auto claimed = redis_.command({"XAUTOCLAIM", stream_, rs::kGroup, options_.name,
                                       std::to_string(options_.visibility_timeout_ms), "0-0", "COUNT", "1"});
  const RedisReply* entry = nullptr;
  if (claimed.size() > 1 && claimed[1].size() > 0 && !claimed[1][0].nil()) entry = &claimed[1][0];
  RedisReply fresh;
  if (!entry) {
    fresh = redis_.command({"XREADGROUP", "GROUP", rs::kGroup, options_.name, "COUNT", "1", "BLOCK",
                            std::to_string(block_ms), "STREAMS", stream_, ">"},
                           block_ms + 5000);
    if (fresh.nil() || fresh[0][1].size() == 0) return false;
    entry = &fresh[0][1][0];
  }
  execute((*entry)[0].str, stream_field(*entry, "id"));
  return true;
}

void RedisWorker::execute(const std::string& entry_id, const std::string& job_id) {
  const auto release_entry = [&] {
    redis_.command({"XACK", stream_, rs::kGroup, entry_id});
    redis_.command({"XDEL", stream_, entry_id});
  };
  if (job_id.empty()) return release_entry();  // not an entry of ours
  // Whatever is in Redis may have been written by anyone who can reach it: the id becomes keys and a folder
  // (data/jobs/ID), so it must have the front end's shape before it names anything.
  const auto refuse = [&](const std::string& why) {
    std::cerr << "worker " << options_.name << ": refused stream entry " << Json(entry_id).dump() << " (job id "
              << Json(job_id.substr(0, 64)).dump() << "): " << why << "\n";
    release_entry();
  };
  if (!valid_job_id(job_id)) return refuse("not a job id (j_ and 16 hex digits)");
  const auto start = redis_.command({"EVAL", kStartScript, "3", rs::job(job_id), rs::owner(job_id),
                                     rs::attempts(job_id), options_.name, std::to_string(options_.max_attempts)});
  if (start[0].str == "gone") return release_entry();
  if (start[0].str == "corrupt") return refuse("corrupt job record: not a JSON object");
  Job job;
  try {
    job = job_from_record(parse_json_bounded(start[1].str));
  } catch (const std::exception& e) {
    return refuse(std::string("corrupt job record: ") + e.what());
  }
  if (job.id != job_id) return refuse("the record names another job id, " + Json(job.id.substr(0, 64)).dump());
  {
    std::lock_guard lock(current_mutex_);
    current_entry_ = entry_id;
    current_job_ = job_id;
  }
  announce();  // at once, not at the next heartbeat: /api/health tells the truth
  bool taken_over = false;
  if (start[0].str == "exhausted") {
    job.state = JobState::kError;
    job.stage = "error";
    job.error = "the job failed: " + std::to_string(options_.max_attempts) + " workers stopped while running it";
    job.timings.total_ms = now_ms() - job.created_ms;
  } else {
    try {
      run_job(job, renderer_, *this, options_.name);
    } catch (const JobTakenOver&) {
      taken_over = true;
    }
  }
  if (!taken_over) {
    const auto last = final_event(job);
    const bool word_done = job.kind == "word" && job.state == JobState::kDone;
    const auto finished = redis_.command(
        {"EVAL", rs::kFinishScript, "7", rs::job(job.id), rs::owner(job.id), rs::events(job.id), rs::done(job),
         rs::inflight(job), rs::kGallery, rs::attempts(job.id), options_.name, job_record(job).dump(),
         last.name, last.data.dump(), job.id, std::to_string(job.created_ms), word_done ? "1" : "0"});
    // Refused: another worker owns the job now and will acknowledge it; this one's result is dropped.
    if (finished.integer == 1) release_entry();
  }
  {
    std::lock_guard lock(current_mutex_);
    current_entry_.clear();
    current_job_.clear();
  }
  announce();
}

void RedisWorker::check_still_mine(const std::string& id) {
  const auto r = redis_.command({"MGET", rs::owner(id), rs::cancel(id)});
  if (r[0].nil() || r[0].str != options_.name) throw JobTakenOver();
  if (!r[1].nil()) throw JobCancelled();
}

void RedisWorker::stage(Job& job, const std::string& stage) {
  check_still_mine(job.id);
  job.stage = stage;
  redis_.command({"SET", rs::job(job.id), job_record(job).dump()});
  // "interpreting" has its own event (docs/api.md); later stages are announced as {"stage": ...}.
  const JobEvent e = stage == "interpreting" ? JobEvent{stage, Json::object()} : JobEvent{"stage", {{"stage", stage}}};
  redis_.command({"XADD", rs::events(job.id), "0-*", "name", e.name, "data", e.data.dump()});
}

void RedisWorker::event(const Job& job, JobEvent e) {
  check_still_mine(job.id);
  redis_.command({"XADD", rs::events(job.id), "0-*", "name", e.name, "data", e.data.dump()});
}

}  // namespace prtkl::server
