// The one executor of both queues (server/job_executor.h): a cancel is known by its type, a takeover passes
// through untouched, and a failing renderer leaves the same error in the record whichever queue ran the job.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "core/error.h"
#include "server/job_executor.h"
#include "server/job_service.h"
#include "server/redis_job_queue.h"
#include "server/redis_worker.h"
#include "support/fixtures.h"
#include "support/redis_server.h"

namespace prtkl::server {
namespace {

// Reports its first stage, then does whatever `then` does (throw, or nothing: the job is done).
class ScriptedRenderer : public JobRenderer {
 public:
  explicit ScriptedRenderer(std::function<void()> then) : then_(std::move(then)) {}
  void run(Job& job, JobProgress& progress) override {
    progress.stage(job, "generating");
    then_();
  }

 private:
  std::function<void()> then_;
};

// A progress report that throws what `report` throws.
class ScriptedProgress : public JobProgress {
 public:
  explicit ScriptedProgress(std::function<void()> report) : report_(std::move(report)) {}
  void stage(Job& job, const std::string& stage) override {
    report_();
    job.stage = stage;
  }
  void event(const Job&, JobEvent) override { report_(); }

 private:
  std::function<void()> report_;
};

const auto nothing = [] {};

Job word_job(const std::string& word) {
  Job j;
  j.id = new_job_id();
  j.word = j.key = word;
  j.seed = 1;
  j.model = "m";
  j.created_ms = now_ms();
  j.created_at = iso8601(j.created_ms);
  return j;
}

TEST(RunJob, ACancelIsKnownByItsTypeNotByItsText) {
  ScriptedRenderer renderer(nothing);
  ScriptedProgress cancelling([] { throw JobCancelled(); });
  auto cancelled = word_job("rain");
  run_job(cancelled, renderer, cancelling, "w");
  EXPECT_EQ(cancelled.state, JobState::kError);
  EXPECT_EQ(cancelled.stage, "error");
  EXPECT_EQ(cancelled.error, kCancelledMessage);

  // A failure whose message reads like a cancel is a failure.
  ScriptedRenderer failing([] { throw Error(std::string("upstream said: ") + kCancelledMessage); });
  ScriptedProgress quiet(nothing);
  auto failed = word_job("rain");
  run_job(failed, failing, quiet, "w");
  EXPECT_EQ(failed.state, JobState::kError);
  EXPECT_EQ(failed.error, kJobFailedMessage);
}

TEST(RunJob, ATakeoverLeavesTheJobToItsNewOwner) {
  ScriptedRenderer renderer(nothing);
  ScriptedProgress taken([] { throw JobTakenOver(); });
  auto job = word_job("rain");
  EXPECT_THROW(run_job(job, renderer, taken, "w"), JobTakenOver);
  EXPECT_EQ(job.state, JobState::kRunning) << "neither done nor failed: the new owner finishes it";
  EXPECT_TRUE(job.error.empty());
}

TEST(RunJob, ADoneJobHasItsTimes) {
  ScriptedRenderer renderer([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  ScriptedProgress quiet(nothing);
  auto job = word_job("rain");
  job.created_ms -= 1000;  // queued a second ago
  run_job(job, renderer, quiet, "w");
  EXPECT_EQ(job.state, JobState::kDone);
  EXPECT_EQ(job.stage, "done");
  EXPECT_GE(job.timings.queued_ms, 1000);
  EXPECT_GE(job.timings.total_ms - job.timings.queued_ms, 20);
}

TEST(RunJob, AFailingRendererLeavesTheSameErrorInEitherQueue) {
  ScriptedRenderer renderer([] { throw Error("renderer exploded reading /srv/secret/model.safetensors"); });

  std::string in_process;
  {
    const auto dir = test::scratch_dir("job_executor_in_process");
    JobStore store(dir + "/jobs.sqlite");
    JobService service(store, renderer, 4);
    const auto r = service.submit(word_job("rain"));
    ASSERT_EQ(r.outcome, SubmitResult::Outcome::kQueued);
    const auto done = service.wait(r.job.id, 10000);
    ASSERT_TRUE(done);
    ASSERT_EQ(done->state, JobState::kError);
    in_process = store.get(r.job.id)->error;
  }
  EXPECT_EQ(in_process, kJobFailedMessage);

  if (!test::have_redis_server()) PRTKL_SKIP_OR_FAIL_ON_CI("redis-server is not installed (make deps)");
  test::RedisServer redis(test::scratch_dir("job_executor_redis"));
  const auto address = parse_redis_url(redis.url());
  RedisJobQueue queue(address, 4);
  WorkerOptions options;
  options.name = "w1";
  options.model = "m";
  options.heartbeat_ms = 100;
  options.visibility_timeout_ms = 600;
  RedisWorker worker(address, renderer, options);
  const auto r = queue.submit(word_job("rain"));
  ASSERT_EQ(r.outcome, SubmitResult::Outcome::kQueued);
  ASSERT_TRUE(worker.run_one(5000));
  const auto behind_redis = queue.get(r.job.id);
  ASSERT_TRUE(behind_redis);
  EXPECT_EQ(behind_redis->state, JobState::kError);
  EXPECT_EQ(behind_redis->error, in_process);
}

}  // namespace
}  // namespace prtkl::server
