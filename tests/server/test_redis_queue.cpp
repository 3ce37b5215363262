// The Redis-backed queue (front end) and worker against a private redis-server, with a renderer that only records
// what it was asked to do: events in order, the result cache, joining, capacity, cancelling, routing by model, and
// a dead worker's job taken over exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "core/file_util.h"
#include "server/job_executor.h"
#include "server/redis_job_queue.h"
#include "server/redis_schema.h"
#include "server/redis_worker.h"
#include "support/fixtures.h"
#include "support/redis_server.h"

namespace prtkl::server {
namespace {

namespace rs = redis_schema;

class RecordingRenderer : public JobRenderer {
 public:
  void run(Job& job, JobProgress& progress) override {
    ++runs;
    progress.stage(job, "generating");
    while (hold.load()) {
      progress.event(job, {"step", {{"step", 0}, {"steps", 1}}});  // where a cancel or takeover lands
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (job.word == "broken") throw Error("renderer exploded");
    job.scene = "scene of " + job.key;
    job.prompt = "prompt of " + job.key;
    progress.event(job, {"step", {{"step", 1}, {"steps", 1}}});
  }
  std::atomic<bool> hold{false};
  std::atomic<int> runs{0};
};

Job word_job(const std::string& word, uint64_t seed, const std::string& model = "m") {
  Job j;
  j.id = new_job_id();
  j.word = j.key = word;
  j.seed = seed;
  j.model = model;
  j.created_ms = now_ms();
  j.created_at = iso8601(j.created_ms);
  return j;
}

std::vector<std::string> event_names(JobQueue& q, const std::string& id) {
  std::vector<std::string> out;
  size_t cursor = 0;
  for (int i = 0; i < 100; ++i) {
    auto batch = q.events(id, cursor, 2000);
    if (!batch) break;
    for (const auto& e : batch->events) out.push_back(e.name == "stage" ? e.data["stage"].get<std::string>() : e.name);
    cursor = batch->next_cursor;
    if (batch->closed) break;
  }
  return out;
}

class RedisQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_redis_server()) PRTKL_SKIP_OR_FAIL_ON_CI("redis-server is not installed (make deps)");
    redis_ = std::make_unique<test::RedisServer>(test::scratch_dir("redis"));
    address_ = parse_redis_url(redis_->url());
  }
  WorkerOptions worker_options(const std::string& name, const std::string& model = "m") {
    WorkerOptions o;
    o.name = name;
    o.model = model;
    o.heartbeat_ms = 100;
    o.visibility_timeout_ms = 600;
    return o;
  }
  std::unique_ptr<test::RedisServer> redis_;
  RedisAddress address_;
};

TEST_F(RedisQueue, RunsJobsInOrderWithTheirEventsAndAnswersRepeatsFromTheCache) {
  RedisJobQueue queue(address_, 8);
  RecordingRenderer renderer;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  std::thread t([&] { worker.run(); });

  const auto first = queue.submit(word_job("rain", 1));
  ASSERT_EQ(first.outcome, SubmitResult::Outcome::kQueued);
  const auto broken = queue.submit(word_job("broken", 1));
  EXPECT_EQ(event_names(queue, first.job.id),
            (std::vector<std::string>{"queued", "generating", "step", "done"}));
  EXPECT_EQ(event_names(queue, broken.job.id), (std::vector<std::string>{"queued", "generating", "error"}));
  const auto done = queue.get(first.job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kDone);
  EXPECT_EQ(done->prompt, "prompt of rain");
  EXPECT_EQ(queue.get(broken.job.id)->error, kJobFailedMessage);

  const auto again = queue.submit(word_job("rain", 1));
  EXPECT_EQ(again.outcome, SubmitResult::Outcome::kCached);
  EXPECT_EQ(again.job.id, first.job.id);
  EXPECT_EQ(queue.gallery_size(), 1);
  EXPECT_EQ(queue.gallery(0, 10).at(0).id, first.job.id);
  EXPECT_EQ(renderer.runs.load(), 2);

  const auto workers = queue.workers();
  ASSERT_EQ(workers.size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["name"], "w1");
  EXPECT_EQ(workers[0]["model"], "m");
  worker.stop();
  t.join();
}

TEST_F(RedisQueue, JoinsAWordInFlightRefusesWhenFullAndCancelsQueuedJobs) {
  RedisJobQueue queue(address_, 2);
  const auto a = queue.submit(word_job("rain", 1));
  ASSERT_EQ(a.outcome, SubmitResult::Outcome::kQueued);
  const auto joined = queue.submit(word_job("rain", 1));
  EXPECT_EQ(joined.outcome, SubmitResult::Outcome::kExisting);
  EXPECT_EQ(joined.job.id, a.job.id);
  EXPECT_EQ(queue.submit(word_job("snow", 1)).outcome, SubmitResult::Outcome::kQueued);
  const auto full = queue.submit(word_job("sun", 1));
  EXPECT_EQ(full.outcome, SubmitResult::Outcome::kQueueFull);
  EXPECT_GE(full.retry_after_s, 1);
  EXPECT_EQ(queue.queue_length(), 2u);

  EXPECT_TRUE(queue.cancel(a.job.id));
  EXPECT_FALSE(queue.cancel(a.job.id)) << "a finished job cannot be cancelled again";
  EXPECT_EQ(event_names(queue, a.job.id), (std::vector<std::string>{"queued", "error"}));
  EXPECT_EQ(queue.get(a.job.id)->error, kCancelledMessage);

  // The worker skips the cancelled job's entry and runs the other; the word can be asked for anew.
  RecordingRenderer renderer;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  while (worker.run_one(100)) {
  }
  EXPECT_EQ(renderer.runs.load(), 1);
  EXPECT_EQ(queue.queue_length(), 0u);
  EXPECT_EQ(queue.submit(word_job("rain", 1)).outcome, SubmitResult::Outcome::kQueued);
}

TEST_F(RedisQueue, CancelsARunningJobAtItsNextProgressReport) {
  RedisJobQueue queue(address_, 4);
  RecordingRenderer renderer;
  renderer.hold = true;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  const auto job = queue.submit(word_job("rain", 1)).job;
  std::thread t([&] { worker.run_one(2000); });
  while (queue.get(job.id)->stage != "generating") std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(queue.busy());
  EXPECT_TRUE(queue.cancel(job.id));
  t.join();
  const auto after = queue.get(job.id);
  EXPECT_EQ(after->state, JobState::kError);
  EXPECT_EQ(after->error, kCancelledMessage);
}

TEST_F(RedisQueue, AWorkerTakesOnlyJobsForItsModel) {
  RedisJobQueue queue(address_, 4);
  RecordingRenderer renderer;
  RedisWorker worker(address_, renderer, worker_options("w1", "m"));
  const auto other = queue.submit(word_job("rain", 1, "other")).job;
  EXPECT_FALSE(worker.run_one(200));
  EXPECT_EQ(queue.get(other.id)->state, JobState::kQueued);
  EXPECT_EQ(queue.queue_length(), 1u);
  RedisWorker other_worker(address_, renderer, worker_options("w2", "other"));
  EXPECT_TRUE(other_worker.run_one(200));
  EXPECT_EQ(queue.get(other.id)->state, JobState::kDone);
}

TEST_F(RedisQueue, ADeadWorkersJobIsTakenOverOnceAndTheSlowOneIsRefused) {
  RedisJobQueue queue(address_, 4);
  const auto job = queue.submit(word_job("rain", 1)).job;
  // A worker that read the job and died (its entry pending, never acknowledged, nobody refreshing it).
  RedisClient raw(address_);
  const auto read = raw.command({"XREADGROUP", "GROUP", rs::kGroup, "ghost", "COUNT", "1", "STREAMS", rs::stream("m"), ">"});
  ASSERT_FALSE(read.nil());
  raw.command({"SET", rs::owner(job.id), "ghost"});
  raw.command({"SET", rs::attempts(job.id), "1"});

  RecordingRenderer renderer;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  EXPECT_FALSE(worker.run_one(100)) << "taken over before the visibility timeout";
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_TRUE(worker.run_one(100));
  EXPECT_EQ(renderer.runs.load(), 1);
  EXPECT_EQ(queue.get(job.id)->state, JobState::kDone);
  EXPECT_EQ(event_names(queue, job.id), (std::vector<std::string>{"queued", "generating", "step", "done"}));
  EXPECT_EQ(raw.command({"XLEN", rs::stream("m")}).integer, 0) << "the entry is acknowledged and gone";

  // The ghost wakes up and tries to finish: refused, nothing changes.
  Job late = *queue.get(job.id);
  late.state = JobState::kDone;
  late.prompt = "a second result";
  const auto refused = raw.command({"EVAL", rs::kFinishScript, "7", rs::job(job.id), rs::owner(job.id),
                                    rs::events(job.id), rs::done(late), rs::inflight(late), rs::kGallery,
                                    rs::attempts(job.id), "ghost", job_record(late).dump(), "done", "{}", job.id,
                                    "0", "1"});
  EXPECT_EQ(refused.integer, 0);
  EXPECT_EQ(queue.get(job.id)->prompt, "prompt of rain");
}

TEST_F(RedisQueue, OnlyTheJobsOwnerMayReportOrFinishIt) {
  RedisJobQueue queue(address_, 4);
  const auto job = queue.submit(word_job("rain", 1)).job;
  RedisClient raw(address_);
  // Not the owner: a finish is refused while the job is still queued.
  raw.command({"SET", rs::owner(job.id), "w2"});
  Job late = job;
  late.state = JobState::kDone;
  EXPECT_EQ(raw.command({"EVAL", rs::kFinishScript, "7", rs::job(job.id), rs::owner(job.id), rs::events(job.id),
                         rs::done(late), rs::inflight(late), rs::kGallery, rs::attempts(job.id), "ghost",
                         job_record(late).dump(), "done", "{}", job.id, "0", "1"})
                .integer,
            0);
  EXPECT_EQ(queue.get(job.id)->state, JobState::kQueued);

  // A running worker whose job another worker took over stops at its next report, leaving the job to the owner.
  RecordingRenderer renderer;
  renderer.hold = true;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  std::atomic<bool> returned{false};
  std::thread t([&] {
    worker.run_one(2000);
    returned = true;
  });
  while (queue.get(job.id)->stage != "generating") std::this_thread::sleep_for(std::chrono::milliseconds(10));
  raw.command({"SET", rs::owner(job.id), "w2"});
  for (int i = 0; i < 250 && !returned; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(returned) << "the worker kept running a job it no longer owns";
  renderer.hold = false;
  t.join();
  EXPECT_EQ(queue.get(job.id)->state, JobState::kRunning) << "the old owner must not end the job";
  EXPECT_EQ(raw.command({"XPENDING", rs::stream("m"), rs::kGroup})[0].integer, 1) << "nor acknowledge its entry";
}

TEST_F(RedisQueue, AJobWhoseWorkersKeepDyingFailsAfterTheLastAttempt) {
  RedisJobQueue queue(address_, 4);
  const auto job = queue.submit(word_job("rain", 1)).job;
  RedisClient raw(address_);
  raw.command({"XREADGROUP", "GROUP", rs::kGroup, "ghost", "COUNT", "1", "STREAMS", rs::stream("m"), ">"});
  raw.command({"SET", rs::attempts(job.id), "3"});  // three workers died running it
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  RecordingRenderer renderer;
  RedisWorker worker(address_, renderer, worker_options("w1"));
  EXPECT_TRUE(worker.run_one(100));
  EXPECT_EQ(renderer.runs.load(), 0);
  const auto after = queue.get(job.id);
  EXPECT_EQ(after->state, JobState::kError);
  EXPECT_NE(after->error.find("3 workers stopped"), std::string::npos) << after->error;
}

// Writes into the job's folder as PipelineRenderer does, so a path made of a bad id would show on disk.
class FolderRenderer : public JobRenderer {
 public:
  explicit FolderRenderer(std::string data) : data_(std::move(data)) {}
  void run(Job& job, JobProgress& progress) override {
    ++runs;
    progress.stage(job, "generating");
    const auto dir = std::filesystem::path(data_) / "jobs" / job.id;
    std::filesystem::create_directories(dir);
    write_file_atomic((dir / "image.png").string(), "png");
  }
  std::string data_;
  std::atomic<int> runs{0};
};

TEST_F(RedisQueue, AWorkerRefusesRecordsWhoseIdsAreNotJobIdsAndServesTheNextJob) {
  const auto dir = test::scratch_dir("redis-bad-ids");
  const auto data = dir + "/data";
  const auto outside = dir + "/outside";  // an absolute path a record names
  RedisJobQueue queue(address_, 8);
  FolderRenderer renderer(data);
  RedisWorker worker(address_, renderer, worker_options("w1"));
  RedisClient raw(address_);
  // Straight into Redis, as anyone who can reach it could: a record and a stream entry for each.
  const auto push = [&](const std::string& entry_id, const std::string& record_id, const std::string& record) {
    raw.command({"SET", rs::job(record_id), record});
    raw.command({"XADD", rs::stream("m"), "*", "id", entry_id});
  };
  const auto record_of = [](const std::string& id) {
    auto r = job_record(word_job("bad", 1));
    r["id"] = id;
    return r.dump();
  };
  push("../../escaped", "../../escaped", record_of("../../escaped"));
  push(outside, outside, record_of(outside));
  const auto good_shape = new_job_id();  // a valid id whose record names a path
  push(good_shape, good_shape, record_of("../../named"));
  const auto deep = new_job_id();  // nested far deeper than any record
  push(deep, deep, "{\"state\":\"queued\",\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}");

  std::thread t([&] { worker.run(); });
  const auto next = queue.submit(word_job("rain", 1));
  EXPECT_EQ(event_names(queue, next.job.id), (std::vector<std::string>{"queued", "generating", "done"}));
  worker.stop();
  t.join();

  EXPECT_EQ(renderer.runs.load(), 1) << "a refused record reached the renderer";
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(data) / "jobs" / next.job.id / "image.png"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/escaped"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/named"));
  EXPECT_FALSE(std::filesystem::exists(outside));
  // Refused entries are acknowledged and deleted, not retried forever.
  EXPECT_EQ(raw.command({"XLEN", rs::stream("m")}).integer, 0);
}

TEST(RedisUrl, RedactsThePasswordForTheLog) {
  EXPECT_EQ(redacted_redis_url("redis://:s3cret@example.org:7000/2"), "redis://:***@example.org:7000/2");
  EXPECT_EQ(redacted_redis_url("redis://alice:s3cret@example.org:7000"), "redis://alice:***@example.org:7000");
  EXPECT_EQ(redacted_redis_url("redis://s3cret@example.org"), "redis://:***@example.org");
  EXPECT_EQ(redacted_redis_url("redis://:p@ss@example.org"), "redis://:***@example.org");
  EXPECT_EQ(redacted_redis_url(":s3cret@10.0.0.5:6380"), ":***@10.0.0.5:6380");
  EXPECT_EQ(redacted_redis_url("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
  try {
    parse_redis_url("redis://:s3cret@host:port");
    ADD_FAILURE() << "a bad port parsed";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  }
}

TEST(RedisUrl, ParsesHostPortDatabaseAndPassword) {
  const auto a = parse_redis_url("redis://:secret@example.org:7000/2");
  EXPECT_EQ(a.host, "example.org");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.password, "secret");
  const auto b = parse_redis_url("10.0.0.5:6380");
  EXPECT_EQ(b.host, "10.0.0.5");
  EXPECT_EQ(b.port, 6380);
  EXPECT_THROW(parse_redis_url("redis://host:port"), Error);
  EXPECT_THROW(parse_redis_url("http://host:6379"), Error);
}

}  // namespace
}  // namespace prtkl::server
