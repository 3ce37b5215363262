#include "server/bounded_head_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

#include "server/peer_closed.h"
#include "server/request_head.h"

namespace prtkl::server {

namespace {

using Clock = std::chrono::steady_clock;

int to_ms(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

// Waits until `fd` is ready for `events`; false on timeout or error.
bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = poll(&p, 1, std::max(timeout_ms, 0));
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (rc != 0 || getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                             NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return;
  ip = host;
  port = std::atoi(serv);
}

// A connection's stream: buffered socket reads, and while a request's head is being read, a byte count and a
// deadline. Past either it answers the refusal itself and fails every later read and write, so httplib ends the
// connection without writing a second response.
class HeadBoundedStream final : public httplib::Stream {
 public:
  HeadBoundedStream(int fd, const HeadLimits& limits, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), limits_(limits), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  // True once a request's first byte is here (or buffered), false when the connection stays idle for
  // `idle_ms`, closes, or `stopping` turns true.
  template <typename Stopping>
  bool wait_for_request(int idle_ms, Stopping stopping) {
    if (pos_ < end_) return true;
    const auto until = Clock::now() + std::chrono::milliseconds(idle_ms);
    while (!stopping()) {
      if (wait_for(fd_, POLLIN, 50)) return true;
      if (Clock::now() >= until) return false;
    }
    return false;
  }

  void begin_request() {
    in_head_ = true;
    head_.clear();
    head_bytes_ = 0;
    last4_ = 0;
    deadline_ = Clock::now() + std::chrono::seconds(limits_.timeout_s);
  }

  bool refused() const { return refused_; }

  bool is_readable() const override { return pos_ < end_ || wait_for(fd_, POLLIN, read_timeout_ms_); }
  bool is_writable() const override {
    return !refused_ && wait_for(fd_, POLLOUT, write_timeout_ms_) && !peer_closed(fd_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (refused_ || (pos_ == end_ && !fill())) return -1;
    size_t n = std::min(size, end_ - pos_);
    if (in_head_) {
      for (size_t i = 0; i < n; ++i) {  // hand out the head up to its blank line, the body after it
        last4_ = (last4_ << 8) | static_cast<unsigned char>(buffer_[pos_ + i]);
        if ((last4_ & 0xffffff) == 0x0a0d0a) {  // "\n\r\n": httplib ends the head there, after a bare LF too
          in_head_ = false;
          n = i + 1;
          break;
        }
      }
      head_bytes_ += n;
      if (in_head_ && head_bytes_ > limits_.max_bytes) {
        refuse(431, "Request Header Fields Too Large", "the request's headers are too large");
        return -1;
      }
      head_.append(buffer_ + pos_, n);
      if (!in_head_) {  // the whole head is here: httplib gets it only if it is well formed
        if (const auto defect = head_defect(head_)) {
          refuse(400, "Bad Request", *defect);
          return -1;
        }
      }
    }
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (refused_ || !wait_for(fd_, POLLOUT, write_timeout_ms_)) return -1;
    return send(fd_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

 private:
  // Every read is of the request (head or body): httplib reads nothing once it answers, and the next request
  // starts with begin_request(). So the request's deadline bounds every wait.
  bool fill() {
    int timeout_ms = read_timeout_ms_;
    bool until_deadline = false;  // the wait ends at the request's deadline, not at the read timeout
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    if (left <= timeout_ms) {
      timeout_ms = static_cast<int>(left);
      until_deadline = true;
    }
    if (timeout_ms <= 0 || !wait_for(fd_, POLLIN, timeout_ms)) {
      if (until_deadline) refuse(408, "Request Timeout", "the request came too slowly");
      return false;
    }
    ssize_t n;
    do n = recv(fd_, buffer_, sizeof buffer_, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    pos_ = 0;
    end_ = static_cast<size_t>(n);
    return true;
  }

  // `message` is one of this file's or head_defect's sentences: no characters that JSON would escape.
 public:
  void refuse(int status, const char* reason, const std::string& message, const std::string& extra_headers = "") {
    const std::string body = R"({"error":")" + message + "\"}";
    std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& [name, value] : limits_.headers) response += name + ": " + value + "\r\n";
    response += extra_headers;
    response += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
    write(response.data(), response.size());
    refused_ = true;
  }

 private:

  int fd_;
  const HeadLimits& limits_;
  int read_timeout_ms_, write_timeout_ms_;
  char buffer_[4096];
  size_t pos_ = 0, end_ = 0;
  bool in_head_ = false, refused_ = false;
  size_t head_bytes_ = 0;
  std::string head_;  // the request's head so far (up to max_bytes)
  uint32_t last4_ = 0;
  Clock::time_point deadline_;
};

// After a refusal the client may still be sending: closing with unread bytes would reset the connection and
// could drop the answer before the client reads it. Stop writing, read and discard for a moment, then close.
void drain(int fd) {
  shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + std::chrono::seconds(1);
  char sink[4096];
  size_t drained = 0;
  while (Clock::now() < until && drained < (1u << 20) && wait_for(fd, POLLIN, 100)) {
    const auto n = recv(fd, sink, sizeof sink, 0);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
}

// httplib's task queue, one thread per connection: a connection holds its thread while it waits for a slow
// client, so a fixed pool is as many slow clients as it has threads. The caps on connections (checked on the
// connection's thread, which knows its peer) bound the threads; past `max_threads` the accept loop waits.
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int max_threads) : max_threads_(max_threads) {}

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return running_ < max_threads_; });
    ++running_;
    std::thread([this, fn = std::move(fn)]() mutable {
      fn();
      fn = nullptr;
      std::lock_guard done(mutex_);
      --running_;
      changed_.notify_all();  // under the lock: shutdown() cannot return (and free this) before it is done
    }).detach();
  }

  void shutdown() override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return running_ == 0; });
  }

 private:
  const int max_threads_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int running_ = 0;
};

}  // namespace

BoundedHeadServer::BoundedHeadServer(HeadLimits limits)
    : limits_(std::move(limits)), connections_(limits_.max_connections, limits_.max_connections_per_address) {
  // Beyond the cap, threads only answer 503 and close: a few more than the cap keep refusals from stalling accept.
  const int max_threads = limits_.max_connections + 64;
  new_task_queue = [max_threads] { return new ConnectionThreads(max_threads); };
}

int BoundedHeadServer::socket_of(const httplib::Request& req) const {
  std::lock_guard lock(sockets_mutex_);
  const auto it = sockets_.find(&req);
  return it == sockets_.end() ? -1 : it->second;
}

// The loop of httplib's own process_and_close_socket (keep-alive count and timeout, the server stopping), on a
// HeadBoundedStream.
bool BoundedHeadServer::process_and_close_socket(socket_t sock) {
  HeadBoundedStream strm(sock, limits_, to_ms(read_timeout_sec_, read_timeout_usec_),
                         to_ms(write_timeout_sec_, write_timeout_usec_));
  std::string address;
  int port = 0;
  strm.get_remote_ip_and_port(address, port);
  if (!connections_.take(address)) {
    strm.refuse(503, "Service Unavailable", "too many connections, retry later", "Retry-After: 1\r\n");
    drain(sock);
    close(sock);
    return false;
  }
  bool ok = false;
  const auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
  for (size_t left = keep_alive_max_count_; left > 0; --left) {
    if (!strm.wait_for_request(static_cast<int>(keep_alive_timeout_sec_ * 1000), stopping)) break;
    strm.begin_request();
    bool closed = false;
    const httplib::Request* request = nullptr;
    // httplib calls this once it has read the head, before any handler runs.
    const auto remember_socket = [&](httplib::Request& req) {
      request = &req;
      std::lock_guard lock(sockets_mutex_);
      sockets_[request] = sock;
    };
    // The one catch around everything a connection runs. httplib catches a handler's exceptions (the exception
    // handler answers 500), not those of a response being written: an event stream's provider that throws (its
    // queue's Redis gone) would end the process. Here it ends the connection; the response cannot be mended.
    try {
      ok = process_request(strm, left == 1, closed, remember_socket);
    } catch (const std::exception& e) {
      std::cerr << "a connection failed while answering: " << e.what() << "\n";
      ok = false;
    } catch (...) {
      std::cerr << "a connection failed while answering\n";
      ok = false;
    }
    if (request) {
      std::lock_guard lock(sockets_mutex_);
      sockets_.erase(request);
    }
    if (!ok || closed) break;
  }
  if (strm.refused()) drain(sock);
  shutdown(sock, SHUT_RDWR);
  close(sock);
  connections_.release(address);
  return ok;
}

}  // namespace prtkl::server
