// The in-process job queue of `prtkl serve` (the default; server/redis_job_queue.h is the shared one): a bounded
// FIFO in front of one worker thread (one loaded model), the live event logs the SSE endpoint streams from, and the
// store that outlives the process.
//
// Previews (kind "preview") have a queue of their own: one per client, a new one replacing the client's last, and
// at most kPreviewClients clients' waiting at once. The worker takes a preview only when no full job is queued, and
// a full job that arrives while a preview runs stops it at the preview's next progress report (one step at most).
// Previews live in memory only: not in the store, the cache or the gallery; a restart forgets them.
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

#include "server/job_queue.h"
#include "server/job_store.h"

namespace prtkl::server {

class JobService : public JobQueue, private JobProgress {
 public:
  // keep_finished > 0: only the newest that many finished jobs stay (in the store, the gallery and on disk).
  JobService(JobStore& store, JobRenderer& renderer, size_t capacity, int64_t keep_finished = 0);
  ~JobService();  // stops the worker after the current job; queued jobs stay queued in the store

  SubmitResult submit(Job job) override;
  SubmitResult submit_preview(Job job, const std::string& client) override;
  void end_preview(const std::string& client) override;
  std::optional<Job> get(const std::string& id) override;
  std::optional<EventBatch> events(const std::string& id, size_t cursor, int timeout_ms) override;
  std::optional<Job> wait(const std::string& id, int timeout_ms) override;
  bool cancel(const std::string& id) override;
  std::vector<Job> gallery(int64_t offset, int64_t limit) override { return store_.gallery(offset, limit); }
  int64_t gallery_size() override { return store_.gallery_size(); }
  size_t queue_length() override;
  size_t capacity() const override { return capacity_; }
  bool busy() override;
  Json workers() override;
  void shutdown() override;  // wakes every waiter; the worker ends after its current job

 private:
  struct Live {
    Job job;
    std::vector<JobEvent> log;
    bool closed = false;
  };
  void worker_loop();
  void throw_if_stopped_locked() const;          // the running job was cancelled or, a preview, preempted
  void end_queued(Job job, const char* reason);  // finishes a job that never ran as cancelled
  // Stops preview `id` for `reason`: running, at its next step (nullopt); queued, taken off the queue and returned
  // for end_queued once the lock is released.
  std::optional<Job> stop_preview_locked(const std::string& id, const char* reason);
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
  std::deque<std::string> previews_;                   // queued previews, oldest first
  std::map<std::string, std::string> preview_of_;      // client -> its preview, queued or running
  std::map<std::string, std::shared_ptr<Live>> live_;  // queued and running jobs
  std::string running_;
  bool running_preview_ = false;
  const char* cancel_running_ = nullptr;  // why the running job was cancelled; its next progress report throws
  bool stopping_ = false;
  double mean_job_s_ = 5.0;  // running mean of job durations, for Retry-After
  std::thread worker_;
};

}  // namespace prtkl::server
