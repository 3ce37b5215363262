// The shared job queue of `prtkl serve --redis URL`: the front end queues jobs in Redis streams (one per model,
// consumer group "workers") and reads their events and results back from Redis; any number of `prtkl worker`
// processes, on this machine or others, run them (server/redis_worker.h). Jobs, events, the result cache and the
// gallery live in Redis (server/redis_schema.h), the files in the data folder the front end and workers share.
#pragma once
#include <atomic>
#include <string>

#include "server/job_queue.h"
#include "server/redis_client.h"

namespace prtkl::server {

class RedisJobQueue : public JobQueue {
 public:
  // `capacity`: jobs that may wait for each model before requests are refused.
  RedisJobQueue(RedisAddress address, size_t capacity);

  SubmitResult submit(Job job) override;
  std::optional<Job> get(const std::string& id) override;
  std::optional<EventBatch> events(const std::string& id, size_t cursor, int timeout_ms) override;
  std::optional<Job> wait(const std::string& id, int timeout_ms) override;
  bool cancel(const std::string& id) override;
  std::vector<Job> gallery(int64_t offset, int64_t limit) override;
  int64_t gallery_size() override;
  size_t queue_length() override;
  size_t capacity() const override { return capacity_; }
  bool busy() override;
  Json workers() override;  // the live workers' announcements, oldest name first
  void shutdown() override { stopping_ = true; }

 private:
  RedisPool redis_;
  const size_t capacity_;
  std::atomic<bool> stopping_{false};
};

// Creates MODEL's stream and the workers' group if missing (both sides call it; a second call is a no-op).
void ensure_job_stream(RedisPool& redis, const std::string& model);
// Reads one stored job; nullopt when Redis has no record for the id.
std::optional<Job> read_job(RedisPool& redis, const std::string& id);

}  // namespace prtkl::server
