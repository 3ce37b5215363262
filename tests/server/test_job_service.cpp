// The queue, the store and restart behaviour, with a renderer that only records what it was asked to do.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "core/error.h"
#include "server/job_executor.h"
#include "server/job_service.h"
#include "support/fixtures.h"

namespace prtkl::server {
namespace {

class RecordingRenderer : public JobRenderer {
 public:
  void run(Job& job, JobProgress& progress) override {
    while (hold.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    progress.stage(job, "generating");
    if (job.word == "broken") throw Error("renderer exploded");
    job.scene = "scene of " + job.key;
    job.prompt = "prompt of " + job.key;
    progress.event(job, {"step", {{"step", 1}, {"steps", 1}}});
    ++runs;
  }
  std::atomic<bool> hold{false};
  std::atomic<int> runs{0};
};

Job word_job(const std::string& word, uint64_t seed, int64_t created = 0) {
  Job j;
  j.id = new_job_id();
  j.word = j.key = word;
  j.seed = seed;
  j.model = "m";
  j.created_ms = created ? created : now_ms();
  j.created_at = iso8601(j.created_ms);
  return j;
}

std::vector<JobEvent> all_events(JobService& service, const std::string& id) {
  std::vector<JobEvent> out;
  size_t cursor = 0;
  for (int i = 0; i < 100; ++i) {
    auto batch = service.events(id, cursor, 2000);
    if (!batch) break;
    out.insert(out.end(), batch->events.begin(), batch->events.end());
    cursor = batch->next_cursor;
    if (batch->closed) break;
  }
  return out;
}

TEST(JobStore, KeepsJobsAndFindsCachedResults) {
  const auto dir = test::scratch_dir("job_store");
  JobStore store(dir + "/jobs.sqlite");
  auto a = word_job("rain", 1, 1000), b = word_job("rain", 2, 2000), c = word_job("snow", 1, 3000);
  a.state = b.state = JobState::kDone;
  a.scene = "a \"quoted\" scene ✓";
  for (const auto& j : {a, b, c}) store.put(j);
  ASSERT_TRUE(store.get(a.id));
  EXPECT_EQ(store.get(a.id)->scene, a.scene);
  EXPECT_FALSE(store.get("j_0000000000000000"));
  EXPECT_EQ(store.find_done("rain", 2, "m")->id, b.id);
  EXPECT_FALSE(store.find_done("rain", 2, "other-model"));
  EXPECT_FALSE(store.find_done("snow", 1, "m")) << "queued jobs are not results";
  const auto gallery = store.gallery(0, 10);
  ASSERT_EQ(gallery.size(), 2u);
  EXPECT_EQ(gallery[0].id, b.id) << "newest first";
  EXPECT_EQ(store.gallery(1, 10).size(), 1u);
  EXPECT_EQ(store.gallery_size(), 2);
}

TEST(JobStore, JobsOfTheSameMillisecondKeepTheOrderTheyWereCreatedIn) {
  const auto dir = test::scratch_dir("job_store_same_ms");
  JobStore store(dir + "/jobs.sqlite");
  std::vector<Job> jobs;
  for (int i = 0; i < 12; ++i) jobs.push_back(word_job("w" + std::to_string(i), 1, 5000));
  for (const auto& j : jobs) store.put(j);
  // Finishing them in reverse order rewrites each row; the order must still be the order of creation.
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
    it->state = JobState::kDone;
    store.put(*it);
  }
  const auto gallery = store.gallery(0, 100);
  ASSERT_EQ(gallery.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(gallery[i].key, jobs[jobs.size() - 1 - i].key) << i;
  const auto pruned = store.prune_finished(4);
  ASSERT_EQ(pruned.size(), 8u);
  for (const auto& j : pruned) EXPECT_LT(std::stoi(j.key.substr(1)), 8) << j.key << " is among the newest four";
}

TEST(JobStore, OpensADatabaseWrittenBeforeTheSequenceColumn) {
  const auto dir = test::scratch_dir("job_store_old_schema");
  const auto path = dir + "/jobs.sqlite";
  auto old = word_job("old", 1, 1000);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string sql =
        "CREATE TABLE jobs(id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, key TEXT NOT NULL,"
        " seed TEXT NOT NULL, model TEXT NOT NULL, created_ms INTEGER NOT NULL, record TEXT NOT NULL);"
        "INSERT INTO jobs VALUES('" + old.id + "', 'word', 'queued', 'old', '1', 'm', 1000, '" +
        job_record(old).dump() + "');";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  JobStore store(path);
  auto fresh = word_job("new", 1, 1000);
  fresh.state = JobState::kDone;
  store.put(fresh);
  ASSERT_EQ(store.with_state(JobState::kQueued).size(), 1u);
  EXPECT_EQ(store.with_state(JobState::kQueued)[0].key, "old");
  EXPECT_EQ(store.gallery(0, 10).size(), 1u);
}

TEST(JobService, RunsJobsInOrderAndStreamsTheirEvents) {
  const auto dir = test::scratch_dir("job_service_order");
  JobStore store(dir + "/jobs.sqlite");
  RecordingRenderer renderer;
  JobService service(store, renderer, 4);
  const auto r = service.submit(word_job("rain", 1));
  ASSERT_EQ(r.outcome, SubmitResult::Outcome::kQueued);
  const auto events = all_events(service, r.job.id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().name, "queued");
  EXPECT_EQ(events.back().name, "done");
  EXPECT_EQ(events.back().data["scene"], "scene of rain");
  EXPECT_EQ(store.get(r.job.id)->state, JobState::kDone);
  // Same word, seed and model: served from the store, not run again.
  const auto again = service.submit(word_job("rain", 1));
  EXPECT_EQ(again.outcome, SubmitResult::Outcome::kCached);
  EXPECT_EQ(again.job.id, r.job.id);
  EXPECT_EQ(renderer.runs, 1);
  // A failing job ends with an error event and is stored as failed.
  const auto bad = service.submit(word_job("broken", 1));
  const auto bad_events = all_events(service, bad.job.id);
  EXPECT_EQ(bad_events.back().name, "error");
  EXPECT_EQ(bad_events.back().data["message"], kJobFailedMessage)
      << "what the renderer threw (paths, library errors) stays in the log";
  EXPECT_EQ(store.get(bad.job.id)->state, JobState::kError);
}

TEST(JobService, BoundedQueueRefusesWithRetryAfterAndJoinsDuplicates) {
  const auto dir = test::scratch_dir("job_service_bounded");
  JobStore store(dir + "/jobs.sqlite");
  RecordingRenderer renderer;
  renderer.hold = true;
  JobService service(store, renderer, 2);
  const auto first = service.submit(word_job("a", 1));
  // Wait until the worker holds the first job, so the queue is empty again.
  for (int i = 0; i < 500 && !service.busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(service.busy());
  EXPECT_EQ(service.submit(word_job("b", 1)).outcome, SubmitResult::Outcome::kQueued);
  EXPECT_EQ(service.submit(word_job("c", 1)).outcome, SubmitResult::Outcome::kQueued);
  const auto dup = service.submit(word_job("b", 1));
  EXPECT_EQ(dup.outcome, SubmitResult::Outcome::kExisting) << "same key joins the queued job";
  const auto full = service.submit(word_job("d", 1));
  EXPECT_EQ(full.outcome, SubmitResult::Outcome::kQueueFull);
  EXPECT_GE(full.retry_after_s, 1);
  EXPECT_FALSE(store.get(full.job.id)) << "a refused job is not stored";
  renderer.hold = false;
  EXPECT_EQ(service.wait(first.job.id, 10000)->state, JobState::kDone);
}

TEST(JobService, RestartFinishesQueuedJobsAndFailsInterruptedOnes) {
  const auto dir = test::scratch_dir("job_service_restart");
  JobStore store(dir + "/jobs.sqlite");
  auto queued = word_job("rain", 1, 1000);
  auto running = word_job("snow", 1, 900);
  running.state = JobState::kRunning;
  running.stage = "generating";
  store.put(queued);
  store.put(running);
  RecordingRenderer renderer;
  JobService service(store, renderer, 1);
  EXPECT_EQ(service.wait(queued.id, 10000)->state, JobState::kDone);
  const auto failed = store.get(running.id);
  EXPECT_EQ(failed->state, JobState::kError);
  EXPECT_NE(failed->error.find("interrupted"), std::string::npos);
  const auto events = all_events(service, running.id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().name, "error") << "a late subscriber still learns the outcome";
}

TEST(JobService, ShutdownLeavesQueuedJobsQueued) {
  const auto dir = test::scratch_dir("job_service_shutdown");
  std::string queued_id;
  {
    JobStore store(dir + "/jobs.sqlite");
    RecordingRenderer renderer;
    renderer.hold = true;
    JobService service(store, renderer, 4);
    service.submit(word_job("a", 1));
    for (int i = 0; i < 500 && !service.busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    queued_id = service.submit(word_job("b", 1)).job.id;
    service.shutdown();
    renderer.hold = false;
  }
  JobStore store(dir + "/jobs.sqlite");
  EXPECT_EQ(store.get(queued_id)->state, JobState::kQueued) << "still there for the next start";
}

TEST(JobService, EventStreamsOfStoreOnlyJobsWaitAndEndAtShutdown) {
  const auto dir = test::scratch_dir("job_service_store_only");
  JobStore store(dir + "/jobs.sqlite");
  RecordingRenderer renderer;
  JobService service(store, renderer, 1);
  // Queued in the store after this service started (another process's job): nothing here will announce it.
  const auto job = word_job("rain", 1);
  store.put(job);
  const auto t0 = std::chrono::steady_clock::now();
  const auto batch = service.events(job.id, 0, 300);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->events.empty());
  EXPECT_FALSE(batch->closed);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250)) << "waits instead of spinning";
  service.shutdown();
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(service.events(job.id, 0, 5000)) << "streams end when the service stops";
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace prtkl::server
