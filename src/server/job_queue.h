// What the HTTP server asks of a job queue, whichever runs the jobs: server/job_service.h (one worker thread in
// the process, the default) or server/redis_job_queue.h (any number of `prtkl worker` processes behind Redis).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "server/job.h"

namespace prtkl::server {

struct JobEvent {
  std::string name;  // queued, interpreting, prompt, step, particles, done, error
  Json data;
};

// What a running job reports. `update` persists nothing by itself: the service stores the job at stage changes
// and at the end.
class JobProgress {
 public:
  virtual ~JobProgress() = default;
  virtual void stage(Job& job, const std::string& stage) = 0;  // a stage change, stored and announced
  virtual void event(const Job& job, JobEvent event) = 0;      // any other event (prompt, step, particles)
};

// The work itself: fills in the job's results and files, or throws.
class JobRenderer {
 public:
  virtual ~JobRenderer() = default;
  virtual void run(Job& job, JobProgress& progress) = 0;
  // Removes the files of a job the store no longer keeps.
  virtual void discard(const Job& job) {}
};

struct SubmitResult {
  enum class Outcome { kQueued, kExisting, kCached, kQueueFull } outcome;
  Job job;                  // the job (new, in flight with the same key, or from the store)
  int retry_after_s = 0;    // kQueueFull
};

// A job ends with one of these: "done" with the job, or "error" with its message.
inline JobEvent final_event(const Job& job) {
  if (job.state == JobState::kDone) return {"done", job.to_json()};
  return {"error", {{"message", job.error}}};
}
inline bool is_finished(JobState state) { return state == JobState::kDone || state == JobState::kError; }
// The error of a job cancelled because nobody waits for it any more.
inline constexpr const char* kCancelledMessage = "cancelled: its client went away";
// The errors of a preview (kind "preview") stopped by what came after it: its client's next preview, or a full job,
// which never waits behind a preview for more than one of its steps.
inline constexpr const char* kReplacedMessage = "cancelled: a newer preview replaced it";
inline constexpr const char* kPreemptedMessage = "cancelled: a full job came first";

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // A word job is answered from the store when the same key + seed + model is done, or joins a queued or
  // running one with the same key; anything else is queued, or refused when the queue is full.
  virtual SubmitResult submit(Job job) = 0;
  // A preview (kind "preview", drawn as the user types): it replaces `client`'s previous preview, cancelling it
  // queued or running, and runs only while no full job waits. Never cached, never stored, never in the gallery.
  // kQueueFull when too many clients' previews wait. Queues that cannot run previews throw prtkl::Error.
  virtual SubmitResult submit_preview(Job, const std::string&) {
    fail("previews need the in-process queue (prtkl serve without --redis)");
  }
  // Ends `client`'s preview, queued or running, because its full job is coming (Enter): a queued preview would
  // otherwise run after it for nothing. Queues without previews have none to end.
  virtual void end_preview(const std::string& /*client*/) {}
  virtual std::optional<Job> get(const std::string& id) = 0;

  // Events of job `id` from `cursor` on, waiting up to `timeout_ms` for one. `closed` turns true after the
  // final event. Unknown ids, and any id once the queue shuts down, return nullopt. For a job that already
  // finished, a short summary is replayed.
  struct EventBatch {
    std::vector<JobEvent> events;
    size_t next_cursor = 0;
    bool closed = false;
  };
  virtual std::optional<EventBatch> events(const std::string& id, size_t cursor, int timeout_ms) = 0;
  // Blocks until the job finishes (or timeout); returns its state then.
  virtual std::optional<Job> wait(const std::string& id, int timeout_ms) = 0;
  // Fails a job nobody waits for any more: a queued one at once, a running one at its next progress report.
  // False when the job is unknown or already finished.
  virtual bool cancel(const std::string& id) = 0;

  virtual std::vector<Job> gallery(int64_t offset, int64_t limit) = 0;  // finished word jobs, newest first
  virtual int64_t gallery_size() = 0;

  virtual size_t queue_length() = 0;  // jobs waiting for a worker
  virtual size_t capacity() const = 0;
  virtual bool busy() = 0;            // some worker is running a job
  // The workers, for /api/health: [{"name", "model", "state" (idle|busy), "job"?}].
  virtual Json workers() = 0;
  virtual void shutdown() = 0;  // wakes every waiter
};

}  // namespace prtkl::server
