// What the real-socket server tests share: a server on loopback with its own data folder (a renderer that only
// writes small files stands in for the model), and raw requests, sent the way an attacker would: bytes, no
// client-side normalisation.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/http.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/job_service.h"
#include "support/fixtures.h"

namespace prtkl::server::test_http {

namespace fs = std::filesystem;

class FileRenderer : public JobRenderer {
 public:
  explicit FileRenderer(std::string data) : data_(std::move(data)) {}
  void run(Job& job, JobProgress& progress) override {
    note(job.id + " start");
    progress.stage(job, "generating");
    for (int i = 0; hold.load(); ++i) {  // reports progress as a real run does: where a cancellation lands
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (i % 20 == 0) {
        note(job.id + " step");
        progress.event(job, {"step", {{"step", i / 20}, {"steps", 0}}});
      }
    }
    if (job.kind == "preview") return;  // a preview keeps nothing on disk
    const auto dir = fs::path(data_) / "jobs" / job.id;
    fs::create_directories(dir);
    for (int64_t i = 0; i < job.count; ++i)
      write_file_atomic((dir / ("image-" + std::to_string(i) + ".png")).string(), "png");
    write_file_atomic((dir / "image.png").string(), "png");
  }
  void discard(const Job& job) override { fs::remove_all(fs::path(data_) / "jobs" / job.id); }
  std::atomic<bool> hold{false};

  // What the jobs did, in order ("<id> start", "<id> step", and the test's own marks): where one job's run lands
  // against another's.
  void note(const std::string& what) {
    std::lock_guard lock(log_mutex_);
    log_.push_back(what);
  }
  std::vector<std::string> log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

 private:
  std::string data_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

// One server on loopback with its own data folder.
struct TestServer {
  explicit TestServer(const std::string& name, ServerOptions so = {}, int64_t keep_jobs = 0)
      : dir(test::scratch_dir("http_security_" + name + "." + std::to_string(getpid()))),
        renderer(dir + "/data"),
        store(dir + "/data/jobs.sqlite"),
        jobs(store, renderer, 4, keep_jobs) {
    fs::create_directories(dir + "/web");
    write_file_atomic(dir + "/web/index.html", "<!doctype html><title>prtkl</title>");
    so.port = 0;
    so.web_root = dir + "/web";
    so.data_dir = dir + "/data";
    so.model = "fake";
    if (so.sweep_dir == "missing") so.sweep_dir = dir + "/no-sweep-here";
    if (!curation_dir.empty()) curation = std::make_unique<Curation>(curation_dir, train_dir);
    if (wrap_queue) wrapped = wrap_queue(jobs);
    http = std::make_unique<HttpServer>(wrapped ? *wrapped : static_cast<JobQueue&>(jobs), so, curation.get());
    port = http->bind();
    thread = std::thread([this] { http->listen(); });
  }
  ~TestServer() {
    renderer.hold = false;
    http->stop();
    thread.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }

  static inline std::string curation_dir, train_dir;  // set before constructing to serve curation
  // Set before constructing to put a queue of the test's in front of the service (e.g. one that fails).
  static inline std::function<std::unique_ptr<JobQueue>(JobService&)> wrap_queue;
  std::string dir;
  FileRenderer renderer;
  JobStore store;
  JobService jobs;
  std::unique_ptr<Curation> curation;
  std::unique_ptr<JobQueue> wrapped;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = 0;
};

inline int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response: its headers and a Content-Length body (or up to the close).
inline std::string read_response(int fd) {
  std::string resp;
  char buf[4096];
  for (;;) {
    const auto head_end = resp.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto cl = resp.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end && resp.size() >= head_end + 4 + std::stoul(resp.substr(cl + 16)))
        break;
    }
    const auto n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  return resp;
}

// Sends raw bytes on a fresh connection and returns the whole response.
inline std::string raw(int port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, request);
  auto resp = read_response(fd);
  close(fd);
  return resp;
}

inline int status_of(const std::string& response) {
  return response.size() >= 12 && response.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(response.substr(9, 3)) : -1;
}

inline std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

inline std::string post_request(const std::string& host, const std::string& path, const std::string& type,
                         const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "Connection: close\r\n\r\n" + body;
}

inline std::string get_request(const std::string& host, const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "Connection: close\r\n\r\n";
}

inline long rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace prtkl::server::test_http
