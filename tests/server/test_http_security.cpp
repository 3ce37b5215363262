// The trust boundary over real sockets, sent the way an attacker (or a hostile web page) would: raw bytes, no
// client-side normalisation. A renderer that only writes small files stands in for the model.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "core/base64.h"
#include "core/error.h"
#include "server/http_test_server.h"

namespace prtkl::server {
namespace {

namespace fs = std::filesystem;
using namespace test_http;

TEST(HttpSecurity, CrossOriginFormPostsAndTextBodiesAreRefused) {
  TestServer s("csrf");
  const auto word = R"({"word": "rain"})";
  // What a plain HTML form on another site can send.
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=b"}) {
    EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/generate", type, "word=rain",
                                                 "Origin: http://evil.example\r\n"))),
              403)
        << type;
    EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/generate", type, word))), 415) << type;
  }
  EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/generate", "application/json", word,
                                               "Origin: http://evil.example\r\n"))),
            403);
  EXPECT_EQ(
      status_of(raw(s.port, post_request(s.host(), "/api/generate", "application/json", word, "Origin: null\r\n"))),
      403);
  size_t stored = 0;
  for (auto state : {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kError})
    stored += s.store.with_state(state).size();
  EXPECT_EQ(stored, 0u) << "no job was queued";
  // The page itself: same origin, JSON.
  const auto ok = raw(
      s.port, post_request(s.host(), "/api/generate", "application/json", word, "Origin: http://" + s.host() + "\r\n"));
  EXPECT_EQ(status_of(ok), 202) << ok;
}

TEST(HttpSecurity, ARebindingHostIsRefused) {
  TestServer s("rebinding");
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/gallery"))), 200);
  EXPECT_EQ(status_of(raw(s.port, get_request("localhost:" + std::to_string(s.port), "/api/gallery"))), 200);
  for (const auto& host :
       {"evil.example:" + std::to_string(s.port), std::string("evil.example"), std::string("127.0.0.1:1")}) {
    const auto r = raw(s.port, get_request(host, "/api/gallery"));
    EXPECT_EQ(status_of(r), 403) << host;
    EXPECT_EQ(body_of(r).find("items"), std::string::npos) << "nothing of the gallery leaks";
    EXPECT_EQ(status_of(raw(s.port, get_request(host, "/"))), 403) << host;
  }
}

TEST(HttpSecurity, A100MBChunkedBodyIsRefusedUnread) {
  TestServer s("chunked");
  const long before = rss_kb();
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "POST /api/generate HTTP/1.1\r\nHost: " + s.host() +
                               "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // The answer comes before any of the body is sent: the gate runs on the headers.
  const auto resp = read_response(fd);
  EXPECT_EQ(status_of(resp), 411) << resp;
  // Then the server hangs up: 100 MB of chunks cannot all go through.
  const std::string chunk = "100000\r\n" + std::string(0x100000, 'x') + "\r\n";
  size_t sent = 0;
  while (sent < 100u << 20 && send_all(fd, chunk)) sent += chunk.size();
  close(fd);
  EXPECT_LT(sent, 100u << 20) << "the connection stayed open for the whole body";
  EXPECT_LT(rss_kb() - before, 16 * 1024) << "RSS grew from " << before << " kB";

  // A POST without any length would be read until the client closes.
  EXPECT_EQ(status_of(raw(s.port, "POST /api/generate HTTP/1.1\r\nHost: " + s.host() +
                                      "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{}")),
            411);
  // A declared size above the limit is refused before a byte of it is read.
  const int big = connect_to(s.port);
  ASSERT_TRUE(send_all(big, "POST /api/generate HTTP/1.1\r\nHost: " + s.host() +
                                "\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"));
  EXPECT_EQ(status_of(read_response(big)), 413);
  close(big);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health"))), 200) << "the server is still up";
}

TEST(HttpSecurity, TooManyOrTooLongHeadersAreRefused) {
  TestServer s("headers");
  std::string many;
  for (int i = 0; i < 200; ++i) many += "X-Filler-" + std::to_string(i) + ": 1\r\n";
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health", many))), 431);
  const auto long_line =
      raw(s.port, get_request(s.host(), "/api/health", "X-Long: " + std::string(9000, 'a') + "\r\n"));
  EXPECT_GE(status_of(long_line), 400);
  EXPECT_LT(status_of(long_line), 500);
  EXPECT_EQ(status_of(raw(
                s.port, get_request(s.host(), "/api/health",
                                    "Cookie: " + std::string(7000, 'a') + "\r\n" + "X-More: " + std::string(7000, 'b') +
                                        "\r\n" + "X-Most: " + std::string(7000, 'c') + "\r\n"))),
            431);
}

TEST(HttpSecurity, AnEndlessHeaderLineIsCutOff) {
  TestServer s("endless");
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /api/health HTTP/1.1\r\nHost: " + s.host() + "\r\nX-Endless: "));
  // Four times the head limit, the line never ended: httplib alone keeps reading it into memory, answers 400
  // only once the client pauses, and a client that never pauses is never answered.
  const std::string piece(16 << 10, 'a');
  for (int i = 0; i < 16 && send_all(fd, piece); ++i) {
  }
  const auto resp = read_response(fd);
  close(fd);
  EXPECT_EQ(status_of(resp), 431) << resp;
  EXPECT_NE(resp.find("X-Content-Type-Options: nosniff"), std::string::npos) << resp;
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health"))), 200) << "the server is still up";
}

TEST(HttpSecurity, ATricklingClientIsDroppedAtTheHeadDeadline) {
  ServerOptions so;
  so.request_timeout_s = 1;
  TestServer s("trickle", so);
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  // One byte every 200 ms: every read is quick, so only a deadline on the whole head stops it (the request
  // would take 14 s; httplib alone answers it).
  const std::string request = get_request(s.host(), "/api/health");
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < request.size() && std::chrono::steady_clock::now() - start < std::chrono::seconds(4); ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 || !send_all(fd, request.substr(i, 1))) break;  // answered
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const auto resp = read_response(fd);
  close(fd);
  EXPECT_EQ(status_of(resp), 408) << resp;
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health"))), 200) << "a whole request still goes";
}

// The connection loop is prtkl's (bounded_head_server.cpp): keep-alive still works, and a pipelined request is
// answered at once (httplib 0.11.4's own loop waited for the socket while the request sat in its buffer).
TEST(HttpSecurity, KeepAliveAndPipelinedRequestsAreServed) {
  TestServer s("keepalive");
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  const std::string health = "GET /api/health HTTP/1.1\r\nHost: " + s.host() + "\r\n\r\n";
  ASSERT_TRUE(send_all(fd, health));
  EXPECT_EQ(status_of(read_response(fd)), 200);
  ASSERT_TRUE(send_all(fd, health + post_request(s.host(), "/api/generate", "application/json", R"({"word": "rain"})")));
  std::string both;  // the last request says Connection: close, so both answers end at the close
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) both.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(status_of(both), 200) << both;
  const auto second = both.find("HTTP/1.1 ", 1);
  ASSERT_NE(second, std::string::npos) << both;
  EXPECT_EQ(status_of(both.substr(second)), 202) << both;
}

TEST(HttpSecurity, PixelBudgetPerRequest) {
  TestServer s("pixels");
  const auto big = raw(s.port, post_request(s.host(), "/v1/images/generations", "application/json",
                                            R"({"prompt": "a tree", "n": 4, "size": "2048x2048"})"));
  EXPECT_EQ(status_of(big), 400) << big;
  const auto err = Json::parse(body_of(big));
  EXPECT_NE(err["error"]["message"].get<std::string>().find("pixels"), std::string::npos) << err.dump();
  EXPECT_EQ(s.jobs.queue_length(), 0u);
  const auto small = raw(s.port, post_request(s.host(), "/v1/images/generations", "application/json",
                                              R"({"prompt": "a tree", "n": 2, "size": "64x64"})"));
  EXPECT_EQ(status_of(small), 200) << small;
}

TEST(HttpSecurity, IdleEventStreamsDoNotStopANewGenerate) {
  TestServer s("streams");
  s.renderer.hold = true;
  httplib::Client c("127.0.0.1", s.port);
  c.set_read_timeout(10, 0);
  auto first = c.Post("/api/generate", R"({"word": "rain", "seed": 1})", "application/json");
  ASSERT_TRUE(first);
  const auto id = Json::parse(first->body)["id"].get<std::string>();
  std::vector<int> streams;
  for (int i = 0; i < 200; ++i) {
    const int fd = connect_to(s.port);
    ASSERT_GE(fd, 0) << i;
    send_all(fd, get_request(s.host(), "/api/jobs/" + id + "/events"));
    streams.push_back(fd);
  }
  // The streams are open and nobody reads them; a new request still gets a thread.
  const auto t0 = std::chrono::steady_clock::now();
  auto second = c.Post("/api/generate", R"({"word": "snow", "seed": 1})", "application/json");
  ASSERT_TRUE(second) << httplib::to_string(second.error());
  EXPECT_EQ(second->status, 202);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  int refused = 0;
  for (int fd : streams) {
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[12] = {};
    if (read(fd, buf, sizeof buf) == 12 && std::string(buf, 12) == "HTTP/1.1 503") ++refused;
    close(fd);
  }
  EXPECT_GE(refused, 200 - 4) << "at most 4 streams per job are held open";
}

std::optional<Job> wait_for_state(JobStore& store, const std::string& id, JobState state) {
  for (int i = 0; i < 300; ++i) {
    if (auto job = store.get(id); job && job->state == state) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return store.get(id);
}

TEST(HttpSecurity, AnOpenAIClientThatHangsUpTakesItsJobWithIt) {
  TestServer s("disconnect");
  s.renderer.hold = true;
  const auto request =
      post_request(s.host(), "/v1/images/generations", "application/json", R"({"prompt": "a tree", "size": "64x64"})");
  // Running: cancelled at its next progress report.
  const int running = connect_to(s.port);
  send_all(running, request);
  for (int i = 0; i < 300 && !s.jobs.busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(s.jobs.busy());
  close(running);
  std::string cancelled_id;
  for (int i = 0; i < 300 && cancelled_id.empty(); ++i) {
    for (const auto& job : s.store.with_state(JobState::kError)) cancelled_id = job.id;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(cancelled_id.empty()) << "the running job was not cancelled";
  EXPECT_EQ(s.store.get(cancelled_id)->error, "cancelled: its client went away");

  // Queued behind a page job: leaves the queue; the page's job is never cancelled.
  httplib::Client c("127.0.0.1", s.port);
  auto page = c.Post("/api/generate", R"({"word": "rain", "seed": 1})", "application/json");
  ASSERT_TRUE(page);
  const auto page_id = Json::parse(page->body)["id"].get<std::string>();
  ASSERT_TRUE(wait_for_state(s.store, page_id, JobState::kRunning));
  const int queued = connect_to(s.port);
  send_all(queued, request);
  for (int i = 0; i < 300 && s.jobs.queue_length() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(s.jobs.queue_length(), 1u);
  close(queued);
  for (int i = 0; i < 300 && s.jobs.queue_length() == 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.jobs.queue_length(), 0u) << "the queued job was not cancelled";
  EXPECT_EQ(s.store.with_state(JobState::kError).size(), 2u);
  s.renderer.hold = false;
  EXPECT_EQ(s.jobs.wait(page_id, 10000)->state, JobState::kDone);
}

TEST(HttpSecurity, ExposedServerNeedsAToken) {
  TestServer::curation_dir.clear();
  const auto dir = test::scratch_dir("http_security_exposed");
  JobStore store(dir + "/jobs.sqlite");
  FileRenderer renderer(dir);
  JobService jobs(store, renderer, 1);
  ServerOptions so;
  so.host = "0.0.0.0";
  EXPECT_THROW((HttpServer{jobs, so}), Error) << "--host 0.0.0.0 without a token must not start";
  so.host = "192.168.1.10";
  EXPECT_THROW((HttpServer{jobs, so}), Error);
  so.token = "a-long-random-token";
  EXPECT_NO_THROW((HttpServer{jobs, so}));
}

TEST(HttpSecurity, WithATokenCallsWithoutItGet401) {
  ServerOptions so;
  so.token = "s3cret-token-0123456789";
  TestServer s("token", so);
  const auto no = raw(s.port, get_request(s.host(), "/api/health"));
  EXPECT_EQ(status_of(no), 401);
  EXPECT_NE(no.find("WWW-Authenticate: Bearer"), std::string::npos);
  EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/generate", "application/json", R"({"word": "rain"})"))),
            401);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/files/jobs/x.png"))), 401);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health", "Authorization: Bearer nope\r\n"))), 401);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health", "Authorization: Bearer s3cret-token-0123456789\r\n"))),
            200);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health", "Cookie: prtkl_token=s3cret-token-0123456789\r\n"))), 200);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/"))), 200) << "the page loads, to ask for the token";
  // AUTOMATIC1111 clients send --api-auth's "Basic user:password": the password is the token. Open WebUI sends an
  // empty "Basic " when none is set, and "//sdapi" when its base URL ends in "/".
  const auto a1111 = raw(s.port, get_request(s.host(), "//sdapi/v1/options", "Authorization: Basic \r\n"));
  EXPECT_EQ(status_of(a1111), 401);
  EXPECT_NE(a1111.find("WWW-Authenticate: Basic"), std::string::npos);
  EXPECT_NE(a1111.find("\"errors\""), std::string::npos) << "A1111's error shape";
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/sdapi/v1/options",
                                              "Authorization: Basic " + base64_encode("user:s3cret-token-0123456789") + "\r\n"))),
            200);
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/sdapi/v1/options",
                                              "Authorization: Basic " + base64_encode("s3cret-token-0123456789:x") + "\r\n"))),
            401);
}

TEST(HttpSecurity, EveryResponseCarriesNosniffAndACsp) {
  TestServer s("headers_out");
  for (const auto& r : {raw(s.port, get_request(s.host(), "/")), raw(s.port, get_request(s.host(), "/missing.js")),
                        raw(s.port, get_request("evil.example", "/")),
                        raw(s.port, get_request(s.host(), "/api/jobs/j_0123456789abcdef")),
                        raw(s.port, "GET /%zz HTTP/1.1\r\nHost: " + s.host() + "\r\nConnection: close\r\n\r\n")}) {
    EXPECT_NE(r.find("X-Content-Type-Options: nosniff"), std::string::npos) << r.substr(0, 200);
    EXPECT_NE(r.find("Content-Security-Policy: default-src 'self'"), std::string::npos) << r.substr(0, 200);
  }
}

TEST(HttpSecurity, FilesServesOnlyPicturesDataAndText) {
  TestServer s("files");
  const auto jobs = fs::path(s.dir) / "data" / "jobs" / "j_0123456789abcdef";
  fs::create_directories(jobs);
  for (const char* name : {"image.png", "particles.bin", "particles.json", "notes.txt", "page.html", "logo.svg",
                           "script.js", "page.htm", "noext"})
    write_file_atomic((jobs / name).string(), "<script>alert(1)</script>");
  for (const char* name : {"image.png", "particles.bin", "particles.json", "notes.txt"})
    EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), std::string("/files/jobs/j_0123456789abcdef/") + name))), 200)
        << name;
  for (const char* name : {"page.html", "logo.svg", "script.js", "page.htm", "noext"})
    EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), std::string("/files/jobs/j_0123456789abcdef/") + name))), 404)
        << name;
}

TEST(HttpSecurity, ErrorsTellClientsNoInternals) {
  ServerOptions so;
  so.sweep_dir = "missing";  // TestServer points it at a folder that does not exist
  TestServer s("errors", so);
  const auto r = raw(s.port, get_request(s.host(), "/api/sweep"));
  EXPECT_EQ(status_of(r), 500);
  EXPECT_EQ(body_of(r).find(s.dir), std::string::npos) << "no absolute path in " << body_of(r);
  EXPECT_NE(body_of(r).find("internal error"), std::string::npos);
}

TEST(HttpSecurity, ExportNeverTouchesForeignFiles) {
  const auto base = test::scratch_dir("http_security_export");
  const auto cur = base + "/candidates";
  fs::create_directories(cur);
  write_file_atomic(cur + "/0000.png", "a");
  write_file_atomic(cur + "/0001.png", "b");
  write_file_atomic(
      cur + "/candidates.jsonl",
      "{\"file_name\": \"0000.png\", \"text\": \"a bird\"}\n{\"file_name\": \"0001.png\", \"text\": \"a tree\"}\n");
  // Someone's dataset already lives in the folder.
  const auto theirs = fs::path(base) / "their-dataset";
  fs::create_directories(theirs);
  write_file_atomic((theirs / "0001.png").string(), "their picture");
  write_file_atomic((theirs / "metadata.jsonl").string(), "their metadata\n");
  TestServer::curation_dir = cur;
  TestServer::train_dir = theirs.string();
  {
    TestServer s("export_foreign");
    for (const char* id : {"0000", "0001"})
      raw(s.port,
          post_request(s.host(), std::string("/api/curation/") + id, "application/json", R"({"decision": "reject"})"));
    const auto r = raw(s.port, post_request(s.host(), "/api/curation/export", "application/json", "{}"));
    EXPECT_EQ(status_of(r), 409) << r;
  }
  EXPECT_EQ(read_file((theirs / "0001.png").string()), "their picture");
  EXPECT_EQ(read_file((theirs / "metadata.jsonl").string()), "their metadata\n");

  // An export's own folder: files it wrote come and go, a file put there later stays.
  const auto ours = fs::path(base) / "train";
  TestServer::train_dir = ours.string();
  {
    TestServer s("export_own");
    raw(s.port, post_request(s.host(), "/api/curation/0000", "application/json", R"({"decision": "keep"})"));
    raw(s.port, post_request(s.host(), "/api/curation/0001", "application/json", R"({"decision": "keep"})"));
    EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/curation/export", "application/json", "{}"))), 200);
    EXPECT_TRUE(fs::exists(ours / "0001.png"));
    EXPECT_TRUE(fs::exists(ours / ".prtkl-export.json"));
    write_file_atomic((ours / "mine.txt").string(), "mine");
    raw(s.port, post_request(s.host(), "/api/curation/0001", "application/json", R"({"decision": "reject"})"));
    EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/curation/export", "application/json", "{}"))), 200);
  }
  TestServer::curation_dir.clear();
  EXPECT_TRUE(fs::exists(ours / "0000.png"));
  EXPECT_FALSE(fs::exists(ours / "0001.png"));
  EXPECT_FALSE(fs::exists(ours / "0001.txt"));
  EXPECT_EQ(read_file((ours / "mine.txt").string()), "mine");
  EXPECT_EQ(read_file((ours / "metadata.jsonl").string()), "{\"file_name\":\"0000.png\",\"text\":\"a bird\"}\n");
}

TEST(HttpSecurity, KeepJobsPrunesTheOldestResults) {
  TestServer::curation_dir.clear();
  TestServer s("keep_jobs", {}, 2);
  httplib::Client c("127.0.0.1", s.port);
  c.set_read_timeout(10, 0);
  std::vector<std::string> ids;
  for (int seed = 1; seed <= 4; ++seed) {
    auto r = c.Post("/api/generate", Json({{"word", "rain"}, {"seed", seed}}).dump(), "application/json");
    ASSERT_TRUE(r);
    ids.push_back(Json::parse(r->body)["id"]);
    EXPECT_EQ(s.jobs.wait(ids.back(), 10000)->state, JobState::kDone);
  }
  // The worker prunes right after it announces the last job: rows, then folders (up to 10 s on a loaded machine).
  auto pruned = [&] {
    return s.store.gallery_size() == 2 && !fs::exists(fs::path(s.dir) / "data" / "jobs" / ids[0]) &&
           !fs::exists(fs::path(s.dir) / "data" / "jobs" / ids[1]);
  };
  for (int i = 0; i < 1000 && !pruned(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.store.gallery_size(), 2);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(fs::exists(fs::path(s.dir) / "data" / "jobs" / ids[i]), i >= 2) << i;
    EXPECT_EQ(s.store.get(ids[i]).has_value(), i >= 2) << i;
  }
}

}  // namespace
}  // namespace prtkl::server
