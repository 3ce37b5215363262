// SIGINT and SIGTERM as a clean stop for the long-running subcommands (serve, worker): the handler only writes a
// byte to a pipe (async-signal-safe, whichever thread receives the signal, libtorch's pool threads included), and a
// watcher thread reads it and calls `on_stop` once.
#pragma once
#include <functional>
#include <string>
#include <thread>

namespace prtkl::cli {

class StopOnSignal {
 public:
  // `message` is printed to stderr when a signal arrives.
  StopOnSignal(std::string message, std::function<void()> on_stop);
  ~StopOnSignal();  // ends the watcher (without calling on_stop when no signal came) and joins it
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  std::thread watcher_;
};

}  // namespace prtkl::cli
