// `prtkl serve --redis` with `prtkl worker` processes on loopback: 30 jobs over two workers, one of them killed
// with SIGKILL in the middle of a job, every job finishing exactly once with its events in order; then Redis
// itself killed and restarted (AOF on) with jobs queued, and those jobs finishing on a new worker.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "core/file_util.h"
#include "core/http.h"
#include "core/json_config.h"
#include "server/redis_client.h"
#include "server/redis_schema.h"
#include "support/cli_process.h"
#include "support/fixtures.h"
#include "support/redis_server.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

std::string submit(int port, const std::string& word, int seed) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  const auto body = Json{{"word", word}, {"seed", seed}}.dump();
  auto res = c.Post("/api/generate", body, "application/json");
  if (!res || res->status != 202) {
    ADD_FAILURE() << "generate " << word << ": " << (res ? std::to_string(res->status) + " " + res->body : "no reply");
    return "";
  }
  return Json::parse(res->body)["id"];
}

Json get_json(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  auto res = c.Get(path.c_str());
  return res && res->status == 200 ? Json::parse(res->body) : Json();
}

// The names of a job's events as the page's SSE stream delivers them ("stage" events as their stage).
std::vector<std::string> sse_events(int port, const std::string& id) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto res = c.Get(("/api/jobs/" + id + "/events").c_str());
  std::vector<std::string> names;
  if (!res) return names;
  std::istringstream in(res->body);
  std::string line, name;
  while (std::getline(in, line)) {
    if (line.rfind("event: ", 0) == 0) name = line.substr(7);
    if (line.rfind("data: ", 0) == 0) {
      if (name == "stage") name = Json::parse(line.substr(6))["stage"];
      names.push_back(name);
    }
  }
  return names;
}

bool wait_all_done(int port, const std::vector<std::string>& ids, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    size_t done = 0;
    for (const auto& id : ids) done += get_json(port, "/api/jobs/" + id)["state"] == "done";
    if (done == ids.size()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

// A job's events arrive in order: one "queued" first, stages in the pipeline's order within each attempt (a
// retried job starts over at "interpreting"), and exactly one final event, last.
void expect_in_order_once(const std::vector<std::string>& names, const std::string& id) {
  ASSERT_FALSE(names.empty()) << id;
  EXPECT_EQ(names.front(), "queued") << id;
  EXPECT_EQ(names.back(), "done") << id;
  EXPECT_EQ(std::count(names.begin(), names.end(), "done"), 1) << id;
  EXPECT_EQ(std::count(names.begin(), names.end(), "error"), 0) << id;
  const std::map<std::string, int> rank = {{"interpreting", 1}, {"prompt", 2}, {"generating", 3}, {"step", 4},
                                           {"particles", 5}, {"done", 6}};
  int last = 0;
  for (size_t i = 1; i < names.size(); ++i) {
    const auto r = rank.find(names[i]);
    if (r == rank.end()) continue;
    if (r->second == 1) last = 0;  // a new attempt
    EXPECT_GE(r->second, last) << id << ": " << names[i] << " after a later stage (event " << i << ")";
    last = r->second;
  }
}

}  // namespace

TEST(CliRedis, TwoWorkersThirtyJobsOneKilledMidJobThenRedisRestarted) {
  if (!test::have_redis_server()) PRTKL_SKIP_OR_FAIL_ON_CI("redis-server is not installed (make deps)");
  const auto dir = test::scratch_dir("redis");
  test::RedisServer redis(dir);
  const auto data = dir + "/data";
  test::CliProcess front("serve --port 0 --queue 64 --redis " + redis.url() + " --data " + data,
                         "listening on http://");
  ASSERT_GT(front.port(), 0);
  const auto worker_args = [&](const std::string& name) {
    return "worker --redis " + redis.url() + " --name " + name + " --model " + test::fixture_path("tiny-sd15") +
           " --data " + data + " --steps 4 --particles 300 --threads 1 --visibility-timeout 3";
  };
  auto w1 = std::make_unique<test::CliProcess>(worker_args("w1"), "serving");
  test::CliProcess w2(worker_args("w2"), "serving");
  ASSERT_TRUE(w1->ready() && w2.ready());

  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(submit(front.port(), "word" + std::to_string(i), i));

  // SIGKILL w1 while it holds a job: its stream entry is pending (read, not yet acknowledged).
  server::RedisClient raw(server::parse_redis_url(redis.url()));
  const auto stream = server::redis_schema::stream(get_json(front.port(), "/api/health")["model"]);
  bool killed = false;
  for (int i = 0; i < 3000 && !killed; ++i) {
    const auto pending = raw.command({"XPENDING", stream, server::redis_schema::kGroup, "-", "+", "10", "w1"});
    if (pending.size() > 0) {
      w1->kill9();
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_TRUE(killed) << "w1 never took a job";
  ASSERT_TRUE(wait_all_done(front.port(), ids, 180)) << "not every job finished after a worker died";
  for (const auto& id : ids) expect_in_order_once(sse_events(front.port(), id), id);
  EXPECT_EQ(get_json(front.port(), "/api/gallery?per_page=50")["total"], 30);
  const auto workers = get_json(front.port(), "/api/health")["workers"];
  EXPECT_TRUE(std::any_of(workers.begin(), workers.end(), [](const Json& w) { return w["name"] == "w2"; }))
      << workers.dump();

  // Redis killed with jobs queued and no worker running; restarted from its AOF, the jobs are still there.
  EXPECT_EQ(w2.stop(), 0);
  std::vector<std::string> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(submit(front.port(), "late" + std::to_string(i), i));
  redis.kill9();
  redis.start();
  EXPECT_EQ(get_json(front.port(), "/api/health")["queue"]["length"], 5) << "queued jobs lost with Redis";
  test::CliProcess w3(worker_args("w3"), "serving");
  ASSERT_TRUE(wait_all_done(front.port(), queued, 120)) << "queued jobs did not survive the Redis restart";
  for (const auto& id : queued) expect_in_order_once(sse_events(front.port(), id), id);
}

// Redis with a password, and records pushed straight into it whose ids are paths ("../../x", an absolute one): a
// real worker refuses them without making or removing anything outside --data, keeps running and serves the next
// job; neither process prints the password.
TEST(CliRedis, AWorkerRefusesPathIdsFromRedisAndNoLogHoldsThePassword) {
  if (!test::have_redis_server()) PRTKL_SKIP_OR_FAIL_ON_CI("redis-server is not installed (make deps)");
  const auto dir = test::scratch_dir("redis-untrusted");
  test::RedisServer redis(dir);
  const std::string password = "pw-7f3a9c1e5b2d";
  {
    server::RedisClient setup(server::parse_redis_url(redis.url()));
    setup.command({"CONFIG", "SET", "requirepass", password});
  }
  const auto url = "redis://:" + password + "@127.0.0.1:" + std::to_string(redis.port());
  const auto data = dir + "/data";
  fs::create_directories(dir + "/victim");
  write_file_atomic(dir + "/victim/keep.txt", "keep");
  test::CliProcess front("serve --port 0 --queue 8 --redis " + url + " --data " + data + " 2>" + dir + "/front.err",
                         "listening on http://");
  ASSERT_GT(front.port(), 0);
  test::CliProcess worker("worker --redis " + url + " --name w1 --model " + test::fixture_path("tiny-sd15") +
                              " --data " + data + " --steps 2 --particles 100 --threads 1 2>" + dir + "/worker.err",
                          "serving");
  ASSERT_TRUE(worker.ready());
  EXPECT_EQ(worker.ready_line().find(password), std::string::npos) << worker.ready_line();
  EXPECT_NE(worker.ready_line().find("redis://:***@127.0.0.1"), std::string::npos) << worker.ready_line();

  server::RedisClient raw(server::parse_redis_url(url));
  const auto stream = server::redis_schema::stream(get_json(front.port(), "/api/health")["model"]);
  const auto push = [&](const std::string& id) {
    Json record = Json::parse(raw.command({"GET", server::redis_schema::job(submit(front.port(), "seed", 1))}).str);
    record["id"] = id;
    record["state"] = "queued";
    raw.command({"SET", server::redis_schema::job(id), record.dump()});
    raw.command({"XADD", stream, "*", "id", id});
  };
  push("../../victim");          // data/jobs/../../victim: the folder beside --data
  push(dir + "/absolute-job");   // an absolute path
  const auto next = submit(front.port(), "rain", 2);
  ASSERT_TRUE(wait_all_done(front.port(), {next}, 120)) << "the worker did not serve the job after the bad records";
  EXPECT_TRUE(fs::exists(fs::path(data) / "jobs" / next / "particles.bin"));
  EXPECT_EQ(read_file(dir + "/victim/keep.txt"), "keep");
  EXPECT_FALSE(fs::exists(dir + "/victim/particles.bin"));
  EXPECT_FALSE(fs::exists(dir + "/absolute-job"));
  EXPECT_EQ(::kill(worker.pid(), 0), 0) << "the worker died";

  EXPECT_EQ(worker.stop(), 0);
  front.stop();
  const auto front_log = read_file(dir + "/front.err"), worker_log = read_file(dir + "/worker.err");
  EXPECT_EQ(front_log.find(password), std::string::npos) << front_log;
  EXPECT_NE(front_log.find("redis://:***@127.0.0.1"), std::string::npos) << front_log;
  EXPECT_EQ(worker_log.find(password), std::string::npos) << worker_log;
  EXPECT_NE(worker_log.find("refused stream entry"), std::string::npos) << worker_log;
}
