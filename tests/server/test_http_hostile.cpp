// Hostile clients over real sockets (issue 41): requests built to kill the server, make it big or starve it.
// Each attack is a cheap version of the real one; the server must stay up, stay small and keep answering
// /api/health within a second while it runs.
#include <gtest/gtest.h>

#include <future>

#include "server/http_test_server.h"

namespace prtkl::server {
namespace {

using namespace test_http;
using Clock = std::chrono::steady_clock;

// Milliseconds for a whole GET /api/health on a fresh connection; -1 without a 200.
long health_ms(int port, const std::string& extra = "") {
  const auto t0 = Clock::now();
  const auto r = raw(port, get_request("127.0.0.1:" + std::to_string(port), "/api/health", extra));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  return status_of(r) == 200 ? static_cast<long>(ms) : -1;
}

std::string nested_array(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A curation folder of two candidates, served by the TestServers made while it lives.
struct CurationFolder {
  explicit CurationFolder(const std::string& name) {
    const auto base = test::scratch_dir("http_hostile_" + name);
    const auto cur = base + "/candidates";
    fs::create_directories(cur);
    write_file_atomic(cur + "/0000.png", "a");
    write_file_atomic(cur + "/candidates.jsonl", "{\"file_name\": \"0000.png\", \"text\": \"a bird\"}\n");
    TestServer::curation_dir = cur;
    TestServer::train_dir = base + "/train";
  }
  ~CurationFolder() { TestServer::curation_dir.clear(); }
};

// JSON nested ~450k deep (under the 1 MiB body limit) crashed the server: a recursive dump() in the A1111 options
// route, a recursive copy of curation's "decision". Now it is refused while it is parsed.
TEST(HttpHostile, DeeplyNestedJsonIsRefusedWhileParsing) {
  CurationFolder folder("nested");
  TestServer s("nested");
  const long before = rss_kb();
  const auto deep = nested_array(450000);
  const auto a1111 = raw(s.port, post_request(s.host(), "/sdapi/v1/options", "application/json",
                                              "{\"sd_model_checkpoint\": " + deep + "}"));
  EXPECT_EQ(status_of(a1111), 422) << a1111.substr(0, 300);  // A1111's status for a body it cannot read
  EXPECT_NE(body_of(a1111).find("nested"), std::string::npos) << body_of(a1111);
  const auto curation = raw(s.port, post_request(s.host(), "/api/curation/0000", "application/json",
                                                 "{\"decision\": " + deep + "}"));
  EXPECT_EQ(status_of(curation), 400) << curation.substr(0, 300);
  const auto generate = raw(s.port, post_request(s.host(), "/api/generate", "application/json",
                                                 "{\"word\": \"rain\", \"x\": " + nested_array(40) + "}"));
  EXPECT_EQ(status_of(generate), 400) << generate.substr(0, 300);
  // Ordinary nesting still goes.
  const auto ok = raw(s.port, post_request(s.host(), "/api/generate", "application/json",
                                           "{\"word\": \"rain\", \"x\": " + nested_array(8) + "}"));
  EXPECT_EQ(status_of(ok), 202) << ok;
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
  EXPECT_LT(rss_kb() - before, 32 * 1024) << "RSS grew from " << before << " kB";
}

// A queue whose event log fails, as Redis does when it goes away mid-stream.
class FailingEventsQueue : public JobQueue {
 public:
  explicit FailingEventsQueue(JobQueue& inner) : inner_(inner) {}
  SubmitResult submit(Job job) override { return inner_.submit(std::move(job)); }
  std::optional<Job> get(const std::string& id) override { return inner_.get(id); }
  std::optional<EventBatch> events(const std::string&, size_t, int) override {
    throw std::runtime_error("redis: connection reset by peer");
  }
  std::optional<Job> wait(const std::string& id, int timeout_ms) override { return inner_.wait(id, timeout_ms); }
  bool cancel(const std::string& id) override { return inner_.cancel(id); }
  std::vector<Job> gallery(int64_t, int64_t) override { throw std::runtime_error("redis: gallery gone"); }
  int64_t gallery_size() override { return inner_.gallery_size(); }
  size_t queue_length() override { return inner_.queue_length(); }
  size_t capacity() const override { return inner_.capacity(); }
  bool busy() override { return inner_.busy(); }
  Json workers() override { return inner_.workers(); }
  void shutdown() override { inner_.shutdown(); }

 private:
  JobQueue& inner_;
};

// An exception while an event stream is being written ended the process; a handler's is a 500.
TEST(HttpHostile, AFailingStreamEndsTheStreamNotTheServer) {
  TestServer::wrap_queue = [](JobService& jobs) { return std::make_unique<FailingEventsQueue>(jobs); };
  TestServer s("failing_stream");
  TestServer::wrap_queue = nullptr;
  const auto gen = raw(s.port, post_request(s.host(), "/api/generate", "application/json", R"({"word": "rain"})"));
  ASSERT_EQ(status_of(gen), 202) << gen;
  const auto id = Json::parse(body_of(gen))["id"].get<std::string>();
  const auto stream = raw(s.port, get_request(s.host(), "/api/jobs/" + id + "/events"));
  EXPECT_EQ(status_of(stream), 200) << stream;  // the head went out before the failure: the stream just ends
  EXPECT_EQ(stream.find("redis"), std::string::npos) << "no internals: " << stream;
  const auto gallery = raw(s.port, get_request(s.host(), "/api/gallery"));
  EXPECT_EQ(status_of(gallery), 500) << gallery;
  EXPECT_EQ(gallery.find("redis"), std::string::npos) << gallery;
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

}  // namespace
}  // namespace prtkl::server
