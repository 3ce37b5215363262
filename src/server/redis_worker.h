// One `prtkl worker`: takes jobs for the model it holds from the shared Redis queue (server/redis_job_queue.h),
// runs them with a JobRenderer, and stores events and results back. A worker that dies mid-job has its job taken
// over by another once the job's stream entry has been idle for the visibility timeout (XAUTOCLAIM); a live worker
// keeps its entry fresh from a heartbeat thread, so a long step is never mistaken for death. Only the job's
// current owner may finish it, so no job completes twice.
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "server/job_queue.h"
#include "server/redis_client.h"

namespace prtkl::server {

struct WorkerOptions {
  std::string name;                 // unique among the workers (default: host-pid)
  std::string model;                // the model id it holds: it takes only jobs queued for it
  int64_t visibility_timeout_ms = 30000;  // a job whose worker is silent this long goes to another
  int max_attempts = 3;             // workers that may take one job before it fails for good
  int64_t heartbeat_ms = 1000;
};

class RedisWorker : private JobProgress {
 public:
  RedisWorker(RedisAddress address, JobRenderer& renderer, WorkerOptions options);
  ~RedisWorker();  // stops and joins the heartbeat

  // Takes and runs jobs until stop(); the current job finishes first.
  void run();
  // Takes and runs at most one job, waiting up to `block_ms` for it; true when it ran one (tests).
  bool run_one(int block_ms);
  void stop() { stopping_ = true; }

 private:
  void stage(Job& job, const std::string& stage) override;
  void event(const Job& job, JobEvent event) override;
  void check_still_mine(const std::string& id);  // throws JobCancelled or JobTakenOver (job_executor.h)
  void announce();  // this worker's model and state (idle, or busy with its job) under prtkl:workers
  void heartbeat_loop();
  void execute(const std::string& entry_id, const std::string& job_id);

  RedisPool redis_;
  JobRenderer& renderer_;
  WorkerOptions options_;
  std::string stream_;
  std::atomic<bool> stopping_{false};
  std::mutex current_mutex_;
  std::string current_entry_, current_job_;  // the stream entry and job being run, for the heartbeat
  std::thread heartbeat_;
};

std::string default_worker_name();  // host-pid

}  // namespace prtkl::server
