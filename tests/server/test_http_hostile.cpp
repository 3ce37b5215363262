// Hostile clients over real sockets (issue 41): requests built to kill the server, make it big or starve it.
// Each attack is a cheap version of the real one; the server must stay up, stay small and keep answering
// /api/health within a second while it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "core/error.h"
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

// The slowest GET /api/health (ms; -1 once one got no 200), asked again every 20 ms while `attack` runs on another
// thread: the gate's "answered within a second while the attack runs".
long worst_health_during(int port, const std::function<void()>& attack) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    attack();
    done = true;
  });
  long worst = 0;
  do {
    const long ms = health_ms(port);
    worst = (ms < 0 || worst < 0) ? -1 : std::max(worst, ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (!done);
  t.join();
  return worst;
}

std::string nested_array(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// The process's peak RSS since the last reset_peak_rss(), in kB: what an attack made the server grow to, even if
// it freed the memory before the test looked.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }
long peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// A zlib stream that inflates to 1 + 258 × `copies` bytes of 'a': one fixed-Huffman block of a literal and then
// back-references of the longest length at distance 1, 13 bits for every 258 bytes (a compression bomb).
std::string deflate_bomb(size_t copies) {
  std::string out = "\x78\x01";  // zlib header: deflate, 32 KiB window, no dictionary
  uint32_t acc = 0;
  int bits = 0;
  auto put = [&](uint32_t value, int n) {  // n bits, least significant first
    acc |= value << bits;
    for (bits += n; bits >= 8; bits -= 8, acc >>= 8) out += static_cast<char>(acc & 0xff);
  };
  auto put_code = [&](uint32_t code, int n) {  // Huffman codes go most significant bit first
    for (int i = n - 1; i >= 0; --i) put((code >> i) & 1, 1);
  };
  put(1, 1);                    // the final block
  put(1, 2);                    // fixed Huffman codes
  put_code(0x30 + 'a', 8);      // the literal 'a'
  for (size_t i = 0; i < copies; ++i) {
    put_code(0xc5, 8);          // length 258 (code 285)
    put_code(0, 5);             // distance 1
  }
  put_code(0, 7);               // end of block
  if (bits > 0) put(0, 8 - bits);
  uint32_t a = 1, b = 0;        // Adler-32 of the inflated bytes
  for (size_t i = 0; i < 1 + 258 * copies; ++i) {
    a = (a + 'a') % 65521;
    b = (b + a) % 65521;
  }
  const uint32_t adler = (b << 16) | a;
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((adler >> shift) & 0xff);
  return out;
}

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
  const long worst = worst_health_during(s.port, [&] {
    for (int i = 0; i < 4; ++i)
      raw(s.port, post_request(s.host(), "/sdapi/v1/options", "application/json", "{\"sd_model_checkpoint\": " + deep + "}"));
  });
  EXPECT_GE(worst, 0) << "/api/health failed during the attack";
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
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
  const long worst = worst_health_during(s.port, [&] {
    for (int i = 0; i < 4; ++i) {
      raw(s.port, get_request(s.host(), "/api/jobs/" + id + "/events"));
      raw(s.port, get_request(s.host(), "/api/gallery"));
    }
  });
  EXPECT_GE(worst, 0) << "/api/health failed during the attack";
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

// cpp-httplib 0.11.4 inflates gzip/deflate/br request bodies without a limit, after the 1 MiB limit counted the
// encoded bytes. A 256 KiB bomb (40 MiB inflated) is refused before a byte of it is read.
TEST(HttpHostile, ACompressedBodyIsRefused) {
  TestServer s("bomb");
  const auto bomb = deflate_bomb(160000);
  ASSERT_LT(bomb.size(), 300u << 10);
  reset_peak_rss();
  const long before = rss_kb();
  for (const char* coding : {"deflate", "gzip", "br", "identity", "x-custom"}) {
    const auto r = raw(s.port, post_request(s.host(), "/api/generate", "application/json", bomb,
                                            std::string("Content-Encoding: ") + coding + "\r\n"));
    EXPECT_EQ(status_of(r), 415) << coding << ": " << r.substr(0, 300);
    EXPECT_NE(r.find("Accept-Encoding: identity"), std::string::npos) << r.substr(0, 300);
  }
  const long worst = worst_health_during(s.port, [&] {
    for (int i = 0; i < 8; ++i)
      raw(s.port, post_request(s.host(), "/api/generate", "application/json", bomb, "Content-Encoding: gzip\r\n"));
  });
  EXPECT_GE(worst, 0) << "/api/health failed during the attack";
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
  EXPECT_LT(peak_rss_kb() - before, 32 * 1024) << "RSS grew from " << before << " kB";
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

// Many ranges of a static file (no token needed) were answered as multipart/byteranges built in memory: a copy of
// the file per range. Now the whole file is served once.
TEST(HttpHostile, ManyRangesGetTheWholeFileOnce) {
  TestServer s("ranges");
  const std::string file(1 << 20, 'b');
  write_file_atomic(s.dir + "/web/bundle.js", file);
  std::string ranges = "Range: bytes=0-";
  for (int i = 1; i < 48; ++i) ranges += ",0-";
  reset_peak_rss();
  const long before = rss_kb();
  for (const char* method : {"HEAD", "GET"}) {
    const int fd = connect_to(s.port);
    ASSERT_GE(fd, 0);
    send_all(fd, std::string(method) + " /bundle.js HTTP/1.1\r\nHost: " + s.host() + "\r\n" + ranges +
                     "\r\nConnection: close\r\n\r\n");
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && read(fd, &c, 1) == 1) head += c;
    close(fd);  // the body (if any) is not wanted
    EXPECT_EQ(status_of(head), 200) << method << ": " << head;
    EXPECT_NE(head.find("Content-Length: " + std::to_string(file.size()) + "\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("multipart/byteranges"), std::string::npos) << head;
  }
  const long worst = worst_health_during(s.port, [&] {
    for (int i = 0; i < 8; ++i) {
      const int fd = connect_to(s.port);
      if (fd < 0) continue;
      send_all(fd, "HEAD /bundle.js HTTP/1.1\r\nHost: " + s.host() + "\r\n" + ranges + "\r\nConnection: close\r\n\r\n");
      char c;
      while (read(fd, &c, 1) == 1) {
      }
      close(fd);
    }
  });
  EXPECT_GE(worst, 0) << "/api/health failed during the attack";
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
  EXPECT_LT(peak_rss_kb() - before, 32 * 1024) << "RSS grew from " << before << " kB";
  // One range is still served as one.
  const auto one = raw(s.port, get_request(s.host(), "/bundle.js", "Range: bytes=10-19\r\n"));
  EXPECT_EQ(status_of(one), 206) << one.substr(0, 300);
  EXPECT_EQ(body_of(one), "bbbbbbbbbb");
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

// Framing that a proxy in front may read differently from cpp-httplib (request smuggling) is a 400, as RFC 9112
// asks: whitespace between a header's name and its colon, two Content-Lengths or Hosts, folded lines, bare LFs.
TEST(HttpHostile, MalformedOrDuplicateFramingHeadersAre400) {
  TestServer s("framing");
  const std::string body = R"({"word": "rain"})";
  const std::string post = "POST /api/generate HTTP/1.1\r\nHost: " + s.host() + "\r\nContent-Type: application/json\r\n";
  const std::string cl = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"space before the colon", post + cl + "Transfer-Encoding : chunked\r\n\r\n" + body},
      {"tab before the colon", post + cl + "Content-Length\t: 5\r\n\r\n" + body},
      {"two different Content-Lengths", post + cl + "Content-Length: 5\r\n\r\n" + body},
      {"two equal Content-Lengths", post + cl + cl + "\r\n" + body},
      {"a folded line", post + cl + "X-Note: a\r\n b\r\n\r\n" + body},
      {"a bare LF", post + cl + "Transfer-Encoding: chunked\n\r\n" + body},
      {"a line without a colon", post + cl + "Transfer-Encoding chunked\r\n\r\n" + body},
      {"a control character", post + cl + "X-Note: a\x01b\r\n\r\n" + body},
      {"two Hosts", "GET /api/health HTTP/1.1\r\nHost: " + s.host() + "\r\nHost: evil.example\r\n\r\n"},
      {"a Host and an empty one", "GET /api/health HTTP/1.1\r\nHost: " + s.host() + "\r\nHost:\r\n\r\n"},
      {"no Host", "GET /api/health HTTP/1.1\r\n\r\n"},
      {"a bad request line", "GET  /api/health HTTP/1.1\r\nHost: " + s.host() + "\r\n\r\n"},
  };
  for (const auto& [what, request] : cases) {
    const auto r = raw(s.port, request);
    EXPECT_EQ(status_of(r), 400) << what << ": " << r.substr(0, 300);
  }
  size_t stored = 0;
  for (auto state : {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kError})
    stored += s.store.with_state(state).size();
  EXPECT_EQ(stored, 0u) << "no job was queued";
  EXPECT_EQ(status_of(raw(s.port, post + cl + "Connection: close\r\n\r\n" + body)), 202) << "a clean request goes";
  const long worst = worst_health_during(s.port, [&] {
    for (int i = 0; i < 3; ++i)
      for (const auto& c : cases) raw(s.port, c.second);
  });
  EXPECT_GE(worst, 0) << "/api/health failed during the attack";
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

// Slow clients hold a connection each for as long as they are allowed to: 64 of them trickling their headers or
// their bodies (no token needed for either) took every request thread, and /api/health went unanswered for as
// long as they kept at it. Now each connection has its own thread (up to the connection caps) and the whole
// request its deadline.
TEST(HttpHostile, SlowClientsDoNotStarveTheServer) {
  TestServer s("slow");
  const long before = rss_kb();
  const auto head = get_request(s.host(), "/api/health");
  const std::string word = R"({"word": "rain"})";
  const auto post = post_request(s.host(), "/api/generate", "application/json", word);
  std::vector<std::pair<int, std::string>> slow;  // socket, what it still has to send
  for (int i = 0; i < 64; ++i) {
    const int fd = connect_to(s.port);
    ASSERT_GE(fd, 0) << i;
    if (i % 2 == 0) {
      slow.emplace_back(fd, head);  // trickles its head
    } else {
      send_all(fd, post.substr(0, post.size() - word.size()));  // the head at once, the body a byte at a time
      slow.emplace_back(fd, word);
    }
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (size_t i = 0; !stop; ++i) {
      for (auto& [fd, rest] : slow)
        if (i < rest.size() - 1) send_all(fd, rest.substr(i, 1));  // never the last byte
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long worst = 0;
  for (int i = 0; i < 5; ++i) {
    const long ms = health_ms(s.port);
    worst = ms < 0 ? 100000 : std::max(worst, ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  stop = true;
  trickle.join();
  for (auto& [fd, rest] : slow) close(fd);
  EXPECT_LT(worst, 1000) << "the slowest /api/health during the attack, ms";
  std::cout << "slowest /api/health under 64 slow clients: " << worst << " ms; RSS +" << rss_kb() - before
            << " kB\n";
  EXPECT_LT(rss_kb() - before, 32 * 1024) << "RSS grew from " << before << " kB";
  EXPECT_GE(health_ms(s.port), 0) << "the server is still up";
}

// The whole request, body included, has one deadline from its first byte: a body trickled a byte every 200 ms (each
// read is quick, so the read timeout never fires) gets 408.
TEST(HttpHostile, ATricklingBodyIsDroppedAtTheRequestDeadline) {
  ServerOptions so;
  so.request_timeout_s = 1;
  TestServer s("slow_body", so);
  const std::string word = R"({"word": "rain", "seed": 1234567})";
  const auto post = post_request(s.host(), "/api/generate", "application/json", word);
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  send_all(fd, post.substr(0, post.size() - word.size()));
  const auto start = Clock::now();
  for (size_t i = 0; i < word.size() && Clock::now() - start < std::chrono::seconds(4); ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 || !send_all(fd, word.substr(i, 1))) break;  // answered
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const auto resp = read_response(fd);
  close(fd);
  EXPECT_EQ(status_of(resp), 408) << resp;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

// Connections per client address and in all are capped: past the cap a connection is answered 503 at once and
// closed, and a slot frees when a connection ends.
TEST(HttpHostile, ConnectionsPerAddressAreCapped) {
  ServerOptions so;
  so.max_connections_per_address = 8;
  TestServer s("conn_cap", so);
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(connect_to(s.port));
    ASSERT_GE(idle.back(), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = Clock::now();
  const auto over = raw(s.port, get_request(s.host(), "/api/health"));
  EXPECT_EQ(status_of(over), 503) << over;
  EXPECT_NE(over.find("Retry-After"), std::string::npos) << over;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  close(idle.back());
  idle.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GE(health_ms(s.port), 0) << "a freed slot is taken again";
  for (int fd : idle) close(fd);
}

// A token whenever anything but loopback can reach the server (a reverse proxy's --allow-host included), of at least
// 16 URL-safe characters.
TEST(HttpHostile, ATokenIsRequiredBehindAProxyAndMustBeLong) {
  const auto dir = test::scratch_dir("http_hostile_token_rules");
  JobStore store(dir + "/jobs.sqlite");
  FileRenderer renderer(dir);
  JobService jobs(store, renderer, 1);
  ServerOptions so;
  so.allowed_hosts = {"prtkl.example.org"};
  EXPECT_THROW((HttpServer{jobs, so}), Error) << "--allow-host without a token must not start";
  for (const char* bad : {"s3cret", "0123456789abcde", "0123456789abcdef;x", "0123456789abcdef\r\nX: y"}) {
    so.token = bad;
    EXPECT_THROW((HttpServer{jobs, so}), Error) << bad;
  }
  so.token = "0123456789abcdef";
  EXPECT_NO_THROW((HttpServer{jobs, so}));
}

// Wrong tokens from one address: five are free, then each locks the address out for 1, 2, 4 … s (429 with
// Retry-After), the right token included, so guessing goes at one try a lock.
TEST(HttpHostile, WrongTokensBackOff) {
  ServerOptions so;
  so.token = "the-right-token-0123456789";
  TestServer s("token_backoff", so);
  const auto with = [&](const std::string& token) {
    return raw(s.port, get_request(s.host(), "/api/health", "Authorization: Bearer " + token + "\r\n"));
  };
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health"))), 401) << "no token is no guess";
  for (int i = 0; i < 6; ++i) EXPECT_EQ(status_of(with("guess-" + std::to_string(i))), 401) << i;
  const auto locked = with(so.token);
  EXPECT_EQ(status_of(locked), 429) << locked;
  EXPECT_NE(locked.find("Retry-After: 1"), std::string::npos) << locked;
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/"))), 200) << "the page itself needs no token";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(status_of(with("guess-6")), 401);
  const auto longer = with(so.token);
  EXPECT_EQ(status_of(longer), 429);
  EXPECT_NE(longer.find("Retry-After: 2"), std::string::npos) << longer;
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(status_of(with(so.token)), 200) << "the right token, once the lock is over";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(status_of(with("guess-" + std::to_string(i))), 401) << "the count restarted";
}

// The page gets its cookie from the server, HttpOnly (no script reads it, not even one of a page on another port of
// the same host, which shares the cookie jar) and SameSite=Strict.
TEST(HttpHostile, TheTokenCookieIsHttpOnlyAndStrict) {
  ServerOptions so;
  so.token = "the-right-token-0123456789";
  TestServer s("token_cookie", so);
  EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/session", "application/json", "{}"))), 401);
  const auto session = raw(s.port, post_request(s.host(), "/api/session", "application/json", "{}",
                                                "Authorization: Bearer " + so.token + "\r\n"));
  EXPECT_EQ(status_of(session), 200) << session;
  EXPECT_NE(session.find("Set-Cookie: prtkl_token=" + so.token + "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict"),
            std::string::npos)
      << session;
  EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), "/api/health", "Cookie: prtkl_token=" + so.token + "\r\n"))),
            200);
}

// OpenAI's clients fetch an image URL as they get it: it is absolute, on the Host the request came to or on
// --public-url, and it serves the image.
TEST(HttpHostile, OpenAIImageUrlsAreAbsolute) {
  const auto request = R"({"prompt": "a tree", "size": "64x64", "response_format": "url"})";
  {
    TestServer s("openai_url");
    const auto r = raw(s.port, post_request(s.host(), "/v1/images/generations", "application/json", request));
    ASSERT_EQ(status_of(r), 200) << r;
    const auto url = Json::parse(body_of(r))["data"][0]["url"].get<std::string>();
    const auto base = "http://" + s.host();
    ASSERT_EQ(url.rfind(base + "/files/jobs/j_", 0), 0u) << url;
    EXPECT_EQ(status_of(raw(s.port, get_request(s.host(), url.substr(base.size())))), 200) << url;
  }
  ServerOptions so;
  so.public_url = "https://prtkl.example.org/";
  TestServer s("openai_public_url", so);
  const auto r = raw(s.port, post_request(s.host(), "/v1/images/generations", "application/json", request));
  ASSERT_EQ(status_of(r), 200) << r;
  const auto url = Json::parse(body_of(r))["data"][0]["url"].get<std::string>();
  EXPECT_EQ(url.rfind("https://prtkl.example.org/files/jobs/j_", 0), 0u) << url;
}

// No answer names a path on the server: curation's training folder is named by its folder name, and a decision
// that cannot be written is the server's 500 with the path in the log only.
TEST(HttpHostile, CurationAnswersCarryNoServerPaths) {
  CurationFolder folder("paths");
  TestServer s("curation_paths");
  const auto list = raw(s.port, get_request(s.host(), "/api/curation"));
  EXPECT_EQ(status_of(list), 200) << list;
  EXPECT_EQ(Json::parse(body_of(list))["train_dir"], "train") << list;
  EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/curation/0000", "application/json",
                                               R"({"decision": "keep"})"))),
            200);
  const auto exported = raw(s.port, post_request(s.host(), "/api/curation/export", "application/json", "{}"));
  EXPECT_EQ(Json::parse(body_of(exported))["folder"], "train") << exported;
  EXPECT_EQ(status_of(raw(s.port, post_request(s.host(), "/api/curation/0404", "application/json",
                                               R"({"decision": "keep"})"))),
            404);
  fs::remove(TestServer::curation_dir + "/decisions.json");
  fs::create_directories(TestServer::curation_dir + "/decisions.json/x");  // the next write fails
  const auto failed = raw(s.port, post_request(s.host(), "/api/curation/0000", "application/json",
                                               R"({"decision": "reject"})"));
  EXPECT_EQ(status_of(failed), 500) << failed;
  for (const auto& r : {list, exported, failed}) EXPECT_EQ(r.find(s.dir), std::string::npos) << r;
  EXPECT_EQ(failed.find("decisions.json"), std::string::npos) << failed;
}

}  // namespace
}  // namespace prtkl::server
