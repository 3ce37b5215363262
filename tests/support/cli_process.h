// A `prtkl` subcommand running as its own process for a test: started through sh (so `args` may carry env
// assignments and redirections), ready once a line containing `ready` appears on its stdout. A server started
// with --port 0 has its port read from its "listening on http://HOST:PORT/" line.
#pragma once
#include <sys/types.h>

#include <cstdio>
#include <string>

namespace prtkl::test {

class CliProcess {
 public:
  // `command`: what follows the binary, e.g. "serve --port 0 --model ...". `env`: "NAME=value ..." or empty.
  CliProcess(const std::string& command, const std::string& ready, const std::string& env = "");
  ~CliProcess();  // SIGTERM and wait, if still running
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  bool ready() const { return ready_; }
  int port() const { return port_; }  // 0 unless its ready line was "listening on http://...:PORT/"
  const std::string& ready_line() const { return ready_line_; }  // the stdout line that held `ready`
  pid_t pid() const { return pid_; }
  int stop();   // SIGTERM, then the wait status
  void kill9();  // SIGKILL, as a crash

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
  int port_ = 0;
  std::string ready_line_;
  FILE* stdout_ = nullptr;
};

}  // namespace prtkl::test
