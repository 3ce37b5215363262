#include "support/cli_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/fixtures.h"

namespace prtkl::test {

CliProcess::CliProcess(const std::string& command, const std::string& ready, const std::string& env) {
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    const auto cmd = (env.empty() ? "" : "env " + env + " ") + prtkl_binary() + " " + command;
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  stdout_ = fdopen(out[0], "r");
  char line[512];
  while (fgets(line, sizeof line, stdout_)) {
    const std::string s(line);
    if (s.find(ready) == std::string::npos) continue;
    ready_ = true;
    ready_line_ = s;
    if (const auto at = s.find("listening on http://"); at != std::string::npos)
      port_ = std::stoi(s.substr(s.rfind(':') + 1));
    break;
  }
}

CliProcess::~CliProcess() {
  if (pid_ > 0) stop();
  if (stdout_) fclose(stdout_);
}

int CliProcess::stop() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void CliProcess::kill9() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace prtkl::test
