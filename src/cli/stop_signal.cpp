#include "cli/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "core/error.h"

namespace prtkl::cli {

namespace {
int g_pipe[2] = {-1, -1};
void on_signal(int) { (void)!write(g_pipe[1], "s", 1); }
}  // namespace

StopOnSignal::StopOnSignal(std::string message, std::function<void()> on_stop) {
  if (pipe(g_pipe) != 0) fail("cannot create the signal pipe");
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  watcher_ = std::thread([message = std::move(message), on_stop = std::move(on_stop)] {
    char byte = 0;
    while (read(g_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte != 's') return;  // the destructor's byte: nothing to stop
    std::cerr << message << "\n";
    on_stop();
  });
}

StopOnSignal::~StopOnSignal() {
  (void)!write(g_pipe[1], "x", 1);
  watcher_.join();
}

}  // namespace prtkl::cli
