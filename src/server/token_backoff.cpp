#include "server/token_backoff.h"

#include <algorithm>

namespace prtkl::server {

int TokenBackoff::locked_for(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(address);
  if (it == entries_.end() || it->second.locked_until <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now).count());
}

void TokenBackoff::failed(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!entries_.count(address) && entries_.size() >= kMaxAddresses) {
    // Forget the address that failed longest ago (an attacker with many addresses only forgets its own).
    const auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                         [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    entries_.erase(oldest);
  }
  auto& e = entries_[address];
  // A quiet hour forgives.
  if (e.failures > 0 && now - e.last > std::chrono::hours(1)) e.failures = 0;
  e.last = now;
  if (++e.failures > kFreeFailures) {
    const int shift = std::min(e.failures - kFreeFailures - 1, 6);  // 1, 2, 4, … 64 s, then the cap
    e.locked_until = now + std::chrono::seconds(std::min(1 << shift, kMaxLockSeconds));
  }
}

void TokenBackoff::succeeded(const std::string& address) {
  std::lock_guard lock(mutex_);
  entries_.erase(address);
}

}  // namespace prtkl::server
