#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace prtkl::cli {

namespace {
std::string clock(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), tty_(::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t done, int64_t total, const std::string& extra) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // A resumed run reports its first step as, say, 3001: the rate and ETA count only the steps done since the start.
  if (first_done_ < 0) first_done_ = done > 0 ? done - 1 : 0;
  const double rate = elapsed > 0 ? (done - first_done_) / elapsed : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  // s/it reads better than a tiny it/s for slow CPU steps.
  char speed[32];
  if (rate >= 1.0 || rate == 0.0)
    std::snprintf(speed, sizeof speed, "%.2f it/s", rate);
  else
    std::snprintf(speed, sizeof speed, "%.2f s/it", 1.0 / rate);
  if (tty_) {
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * done / total) : 0;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %s ETA %s %s\033[K", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<long long>(done), static_cast<long long>(total),
                 speed, clock(eta).c_str(), extra.c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s %lld/%lld %s ETA %s%s%s\n", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), speed, clock(eta).c_str(), extra.empty() ? "" : " ", extra.c_str());
  }
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
}

}  // namespace prtkl::cli
