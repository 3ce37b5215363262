#include "support/redis_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/fixtures.h"

namespace prtkl::test {

namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

bool have_redis_server() { return run_command("command -v redis-server").code == 0; }

RedisServer::RedisServer(const std::string& dir) : dir_(dir), port_(free_port()) { start(); }

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

void RedisServer::kill9() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::start() {
  const auto port = std::to_string(port_);
  pid_ = fork();
  if (pid_ == 0) {
    // appendfsync always: every acknowledged write is on disk, so kill9() loses nothing that was acknowledged.
    execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--dir", dir_.c_str(),
           "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--logfile",
           (dir_ + "/redis.log").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {  // PONG once it listens and has loaded its AOF
    if (run_command("redis-cli -p " + port + " ping 2>/dev/null").output.find("PONG") != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "redis-server on port " << port << " did not answer (log: " << dir_ << "/redis.log)";
}

}  // namespace prtkl::test
