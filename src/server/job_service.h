// The job queue of `prtkl serve`: a bounded FIFO in front of one worker thread (one loaded model), the live
// event logs the SSE endpoint streams from, and the store that outlives the process.
//
// Restart behaviour: jobs the store still lists as queued are queued again (they finish), jobs that were running
// when the process died are marked failed with a reason. None vanish.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/job.h"
#include "server/job_store.h"

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

class JobService : private JobProgress {
 public:
  // keep_finished > 0: only the newest that many finished jobs stay (in the store, the gallery and on disk).
  JobService(JobStore& store, JobRenderer& renderer, size_t capacity, int64_t keep_finished = 0);
  ~JobService();  // stops the worker after the current job; queued jobs stay queued in the store

  // A word job is answered from the store when the same key + seed + model is done, or joins a queued or
  // running one with the same key; anything else is queued, or refused when the queue is full.
  SubmitResult submit(Job job);
  std::optional<Job> get(const std::string& id);

  // Events of job `id` from `cursor` on, waiting up to `timeout_ms` for one. `closed` turns true after the
  // final event. Unknown ids, and any id once the service shuts down, return nullopt. For a job that already
  // finished, a short summary is replayed.
  struct EventBatch {
    std::vector<JobEvent> events;
    size_t next_cursor = 0;
    bool closed = false;
  };
  std::optional<EventBatch> events(const std::string& id, size_t cursor, int timeout_ms);
  // Blocks until the job finishes (or timeout); returns its final state.
  std::optional<Job> wait(const std::string& id, int timeout_ms);
  // Fails a job nobody waits for any more: a queued one at once, the running one at its next progress report.
  // False when the job is unknown here or already finished.
  bool cancel(const std::string& id);

  std::vector<Job> gallery(int64_t offset, int64_t limit) { return store_.gallery(offset, limit); }
  int64_t gallery_size() { return store_.gallery_size(); }

  size_t queue_length();
  size_t capacity() const { return capacity_; }
  bool busy();
  void shutdown();  // wakes every waiter; the worker ends after its current job

 private:
  struct Live {
    Job job;
    std::vector<JobEvent> log;
    bool closed = false;
  };
  void worker_loop();
  void stage(Job& job, const std::string& stage) override;
  void event(const Job& job, JobEvent event) override;
  void announce_positions_locked();
  void finish(const std::string& id, Job job);
  void prune();
  int retry_after_locked() const;

  JobStore& store_;
  JobRenderer& renderer_;
  const size_t capacity_;
  const int64_t keep_finished_;
  std::mutex mutex_;
  std::condition_variable work_cv_, event_cv_;
  std::deque<std::string> queue_;
  std::map<std::string, std::shared_ptr<Live>> live_;  // queued and running jobs
  std::string running_;
  bool cancel_running_ = false;  // the running job was cancelled; its next progress report throws
  bool stopping_ = false;
  double mean_job_s_ = 5.0;  // running mean of job durations, for Retry-After
  std::thread worker_;
};

}  // namespace prtkl::server
