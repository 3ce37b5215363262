// Backoff on wrong access tokens, per client address: a few wrong tokens are free (a typo, an old one), then each
// further wrong one locks the address out of the token check for twice as long as the last, up to a minute; the
// right token clears the count. While locked out, requests that need the token are refused with 429 without
// being checked, so guessing goes no faster than one token per lock. Every client on loopback (or behind a proxy
// on this machine) shares one address: a local process guessing locks the page out too, for at most a minute.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace prtkl::server {

class TokenBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kFreeFailures = 5;
  static constexpr int kMaxLockSeconds = 60;
  static constexpr size_t kMaxAddresses = 10000;  // addresses remembered; the oldest are forgotten beyond

  // Seconds `address` stays locked out (0: not locked).
  int locked_for(const std::string& address, Clock::time_point now = Clock::now());
  void failed(const std::string& address, Clock::time_point now = Clock::now());
  void succeeded(const std::string& address);

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point last, locked_until;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace prtkl::server
