#include "server/job_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "core/error.h"
#include "server/job_executor.h"

namespace prtkl::server {

namespace {
constexpr size_t kRecentLogs = 64;  // finished jobs whose full event log stays in memory for late readers
constexpr const char* kWorkerName = "in-process";  // as /api/health lists it
constexpr size_t kPreviewClients = 4;  // clients whose previews may wait at once: a preview is worth little late
}  // namespace

JobService::JobService(JobStore& store, JobRenderer& renderer, size_t capacity, int64_t keep_finished)
    : store_(store), renderer_(renderer), capacity_(capacity), keep_finished_(keep_finished) {
  if (capacity_ == 0) fail("the job queue needs a capacity of at least 1");
  for (auto job : store_.with_state(JobState::kRunning)) {
    job.state = JobState::kError;
    job.stage = "error";
    job.error = "interrupted: the server stopped while this job was running";
    store_.put(job);
  }
  for (auto& job : store_.with_state(JobState::kQueued)) {  // finished even beyond capacity: they were accepted
    auto live = std::make_shared<Live>();
    live->job = job;
    live_[job.id] = live;
    queue_.push_back(job.id);
  }
  announce_positions_locked();
  prune();
  worker_ = std::thread([this] { worker_loop(); });
}

JobService::~JobService() {
  shutdown();
  if (worker_.joinable()) worker_.join();
}

void JobService::shutdown() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  work_cv_.notify_all();
  event_cv_.notify_all();
}

int JobService::retry_after_locked() const {
  const double s = mean_job_s_ * double(queue_.size() + 1) / double(capacity_);
  return std::max(1, int(std::ceil(s)));
}

SubmitResult JobService::submit(Job job) {
  if (job.kind == "word") {
    if (auto done = store_.find_done(job.key, job.seed, job.model)) return {SubmitResult::Outcome::kCached, *done};
  }
  std::lock_guard lock(mutex_);
  if (job.kind == "word") {
    for (const auto& [id, live] : live_) {
      const Job& j = live->job;
      if (!live->closed && j.kind == "word" && j.key == job.key && j.seed == job.seed && j.model == job.model)
        return {SubmitResult::Outcome::kExisting, j};
    }
  }
  if (queue_.size() >= capacity_ || stopping_) {
    SubmitResult r{SubmitResult::Outcome::kQueueFull, job};
    r.retry_after_s = retry_after_locked();
    return r;
  }
  job.state = JobState::kQueued;
  job.stage = "queued";
  store_.put(job);
  auto live = std::make_shared<Live>();
  live->job = job;
  live_[job.id] = live;
  queue_.push_back(job.id);
  announce_positions_locked();
  work_cv_.notify_one();
  return {SubmitResult::Outcome::kQueued, job};
}

SubmitResult JobService::submit_preview(Job job, const std::string& client) {
  std::optional<Job> replaced;
  {
    std::lock_guard lock(mutex_);
    const auto previous = preview_of_.find(client);
    if (stopping_ || (previous == preview_of_.end() && preview_of_.size() >= kPreviewClients))
      return {SubmitResult::Outcome::kQueueFull, job, 1};
    if (previous != preview_of_.end()) replaced = stop_preview_locked(previous->second, kReplacedMessage);
    job.kind = "preview";
    job.state = JobState::kQueued;
    job.stage = "queued";
    auto live = std::make_shared<Live>();
    live->job = job;
    live_[job.id] = live;
    previews_.push_back(job.id);
    preview_of_[client] = job.id;
    work_cv_.notify_one();
  }
  if (replaced) end_queued(*replaced, kReplacedMessage);
  return {SubmitResult::Outcome::kQueued, job};
}

std::optional<Job> JobService::stop_preview_locked(const std::string& id, const char* reason) {
  if (running_ == id) {
    cancel_running_ = reason;  // it stops at its next step
    return std::nullopt;
  }
  previews_.erase(std::find(previews_.begin(), previews_.end(), id));
  return live_.at(id)->job;
}

void JobService::end_preview(const std::string& client) {
  std::optional<Job> queued;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = preview_of_.find(client); it != preview_of_.end())
      queued = stop_preview_locked(it->second, kPreemptedMessage);
  }
  if (queued) end_queued(*queued, kPreemptedMessage);
}

std::optional<Job> JobService::get(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = live_.find(id); it != live_.end()) return it->second->job;
  }
  return store_.get(id);
}

void JobService::announce_positions_locked() {
  for (size_t i = 0; i < queue_.size(); ++i) {
    auto& live = *live_.at(queue_[i]);
    live.log.push_back({"queued", {{"position", i}}});
  }
  event_cv_.notify_all();
}

std::optional<JobService::EventBatch> JobService::events(const std::string& id, size_t cursor, int timeout_ms) {
  std::unique_lock lock(mutex_);
  if (stopping_) return std::nullopt;
  auto it = live_.find(id);
  if (it == live_.end()) {
    lock.unlock();
    auto job = store_.get(id);
    if (!job) return std::nullopt;
    EventBatch batch;
    if (job->state == JobState::kQueued || job->state == JobState::kRunning) {
      // In the store but not in memory (another process's job, say): nothing will announce it here, so wait out
      // the timeout rather than let the caller ask again at once.
      lock.lock();
      event_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return stopping_; });
      if (stopping_) return std::nullopt;
      batch.next_cursor = cursor;
      return batch;
    }
    if (cursor == 0 && !job->prompt.empty())
      batch.events.push_back({"prompt", {{"scene", job->scene}, {"prompt", job->prompt}}});
    batch.events.push_back(final_event(*job));
    batch.closed = true;
    return batch;
  }
  auto live = it->second;  // keeps the log alive even if the job is evicted meanwhile
  event_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                     [&] { return live->log.size() > cursor || live->closed || stopping_; });
  if (stopping_) return std::nullopt;
  EventBatch batch;
  for (size_t i = cursor; i < live->log.size(); ++i) batch.events.push_back(live->log[i]);
  batch.next_cursor = live->log.size();
  batch.closed = live->closed;
  return batch;
}

std::optional<Job> JobService::wait(const std::string& id, int timeout_ms) {
  std::unique_lock lock(mutex_);
  auto it = live_.find(id);
  if (it != live_.end()) {
    auto live = it->second;
    event_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return live->closed || stopping_; });
    return live->job;
  }
  lock.unlock();
  return store_.get(id);
}

bool JobService::cancel(const std::string& id) {
  Job job;
  {
    std::lock_guard lock(mutex_);
    const auto it = live_.find(id);
    if (it == live_.end() || it->second->closed) return false;
    if (running_ == id) {
      cancel_running_ = kCancelledMessage;
      return true;
    }
    auto& from = it->second->job.kind == "preview" ? previews_ : queue_;
    const auto queued = std::find(from.begin(), from.end(), id);
    if (queued == from.end()) return false;
    from.erase(queued);
    if (&from == &queue_) announce_positions_locked();
    job = it->second->job;
  }
  end_queued(job, kCancelledMessage);
  return true;
}

void JobService::end_queued(Job job, const char* reason) {
  job.state = JobState::kError;
  job.stage = "error";
  job.error = reason;
  job.timings.total_ms = now_ms() - job.created_ms;
  finish(job.id, job);
}

size_t JobService::queue_length() {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool JobService::busy() {
  std::lock_guard lock(mutex_);
  return !running_.empty();
}

Json JobService::workers() {
  std::lock_guard lock(mutex_);
  Json w = {{"name", kWorkerName}, {"state", running_.empty() ? "idle" : "busy"}};
  if (!running_.empty()) w["job"] = running_;
  return Json::array({w});
}

void JobService::throw_if_stopped_locked() const {
  if (cancel_running_) throw JobCancelled(cancel_running_);
  if (running_preview_ && !queue_.empty()) throw JobCancelled(kPreemptedMessage);
}

void JobService::stage(Job& job, const std::string& stage) {
  {
    std::lock_guard lock(mutex_);
    throw_if_stopped_locked();
  }
  job.stage = stage;
  if (job.kind != "preview") store_.put(job);
  std::lock_guard lock(mutex_);
  auto& live = *live_.at(job.id);
  live.job = job;
  // "interpreting" has its own event (docs/api.md); later stages are announced as {"stage": ...}.
  if (stage == "interpreting") live.log.push_back({stage, Json::object()});
  else live.log.push_back({"stage", {{"stage", stage}}});
  event_cv_.notify_all();
}

void JobService::event(const Job& job, JobEvent event) {
  std::lock_guard lock(mutex_);
  throw_if_stopped_locked();  // unwinds the renderer from inside its step loop
  auto& live = *live_.at(job.id);
  live.job = job;
  live.log.push_back(std::move(event));
  event_cv_.notify_all();
}

void JobService::finish(const std::string& id, Job job) {
  try {
    if (job.kind != "preview") store_.put(job);
  } catch (const std::exception& e) {  // the result stays visible in memory at least
    std::cerr << "job " << id << ": cannot store the result: " << e.what() << "\n";
  }
  std::lock_guard lock(mutex_);
  for (auto it = preview_of_.begin(); it != preview_of_.end(); ++it)
    if (it->second == id) {
      preview_of_.erase(it);
      break;
    }
  auto& live = *live_.at(id);
  live.job = job;
  live.log.push_back(final_event(job));
  live.closed = true;
  if (running_ == id) running_.clear();  // a cancelled queued job finishes while another one runs
  // Keep the logs of the most recent finished jobs for readers still streaming; drop the oldest.
  std::vector<std::pair<int64_t, std::string>> closed;
  for (const auto& [jid, l] : live_)
    if (l->closed) closed.emplace_back(l->job.created_ms, jid);
  if (closed.size() > kRecentLogs) {
    std::sort(closed.begin(), closed.end());
    for (size_t i = 0; i + kRecentLogs < closed.size(); ++i) live_.erase(closed[i].second);
  }
  event_cv_.notify_all();
}

void JobService::worker_loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !previews_.empty(); });
      if (stopping_) return;
      running_preview_ = queue_.empty();  // full jobs first: a preview only runs while none waits
      auto& from = running_preview_ ? previews_ : queue_;
      running_ = from.front();
      cancel_running_ = nullptr;
      from.pop_front();
      job = live_.at(running_)->job;
      if (!running_preview_) announce_positions_locked();
    }
    run_job(job, renderer_, *this, kWorkerName);
    if (job.kind == "preview") {
      finish(job.id, job);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      const double seconds = double(job.timings.total_ms - job.timings.queued_ms) / 1000.0;
      mean_job_s_ = 0.7 * mean_job_s_ + 0.3 * seconds;
    }
    finish(job.id, job);
    prune();
  }
}

void JobService::prune() {
  if (keep_finished_ <= 0) return;
  try {
    for (const auto& job : store_.prune_finished(keep_finished_)) renderer_.discard(job);
  } catch (const std::exception& e) {  // old results staying a while longer is no reason to stop serving
    std::cerr << "cannot prune old jobs: " << e.what() << "\n";
  }
}

}  // namespace prtkl::server
