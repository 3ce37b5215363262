// A progress bar on a terminal (steps, it/s, ETA), plain lines otherwise (logs, pipes, CI).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace prtkl::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void update(int64_t done, int64_t total, const std::string& extra = "");
  void finish();

 private:
  std::string label_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
  int64_t first_done_ = -1;  // steps already done when the first update came
};

}  // namespace prtkl::cli
