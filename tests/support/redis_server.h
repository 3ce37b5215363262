// A private redis-server (Debian's) for one test: loopback, a free port, its own folder, AOF on so a restart keeps
// what was written. Stopped when the object goes.
#pragma once
#include <sys/types.h>

#include <string>

namespace prtkl::test {

class RedisServer {
 public:
  explicit RedisServer(const std::string& dir);  // starts it and waits until it answers PING; fails the test if not
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }
  void kill9();   // dies at once, as on a crash: only what the AOF holds survives
  void start();   // (again) on the same port and folder

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// True when Debian's redis-server is installed (scripts/install-deps.sh installs it).
bool have_redis_server();

}  // namespace prtkl::test
