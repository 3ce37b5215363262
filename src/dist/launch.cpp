#include "dist/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "core/error.h"

namespace prtkl {

namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("launch: no socket for finding a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  if (!ok) fail("launch: could not find a free port");
  return ntohs(a.sin_port);
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

int launch(const std::string& program, const LaunchOptions& o) {
  if (o.nproc < 1) fail("launch: --nproc must be at least 1");
  if (o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes) fail("launch: --node-rank must be in [0, --nnodes)");
  if (o.args.empty()) fail("launch: no command (e.g. prtkl launch --nproc 2 -- train --config run.json)");
  if (o.master_port == 0 && o.nnodes > 1) fail("launch: a run over several machines needs a fixed --master-port");
  const int port = o.master_port == 0 ? free_port() : o.master_port;
  const int world = o.nproc * o.nnodes;
  std::map<pid_t, int> ranks;  // running children -> global rank
  for (int i = 0; i < o.nproc; ++i) {
    const int rank = o.node_rank * o.nproc + i;
    const pid_t pid = fork();
    if (pid < 0) fail("launch: fork failed");
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(i).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(program.c_str())};
      for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      _exit(127);
    }
    ranks[pid] = rank;
  }
  using Clock = std::chrono::steady_clock;
  int result = 0;
  std::optional<Clock::time_point> kill_at;  // set once a rank failed: the rest get SIGTERM, then SIGKILL
  while (!ranks.empty()) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, kill_at ? WNOHANG : 0);
    if (pid < 0) break;
    if (pid == 0) {  // ranks blocked in a collective may ignore SIGTERM for a while; unreaped, their pids stay theirs
      if (Clock::now() >= *kill_at)
        for (const auto& [other, _] : ranks) kill(other, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    const auto it = ranks.find(pid);
    if (it == ranks.end()) continue;
    const int rank = it->second;
    ranks.erase(it);
    if (exit_code(status) == 0 || result != 0) continue;
    result = exit_code(status);
    std::cerr << "launch: rank " << rank << " "
              << (WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                      : "exited with code " + std::to_string(result))
              << "; stopping the other " << ranks.size() << " rank(s)\n";
    for (const auto& [other, _] : ranks) kill(other, SIGTERM);
    kill_at = Clock::now() + std::chrono::seconds(10);
  }
  return result;
}

}  // namespace prtkl
