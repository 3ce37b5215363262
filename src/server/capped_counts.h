// Things in use, counted in all and per key, each count under its cap (connections per client address, event
// streams per job): take() refuses beyond either cap, release() gives one back. Thread-safe.
#pragma once
#include <map>
#include <mutex>
#include <string>

namespace prtkl::server {

class CappedCounts {
 public:
  CappedCounts(int max_total, int max_per_key) : max_total_(max_total), max_per_key_(max_per_key) {}
  bool take(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto& mine = per_key_[key];
    if (total_ >= max_total_ || mine >= max_per_key_) {
      if (mine == 0) per_key_.erase(key);
      return false;
    }
    ++total_;
    ++mine;
    return true;
  }
  void release(const std::string& key) {
    std::lock_guard lock(mutex_);
    --total_;
    if (--per_key_[key] == 0) per_key_.erase(key);
  }
  int count(const std::string& key) const {
    std::lock_guard lock(mutex_);
    const auto it = per_key_.find(key);
    return it == per_key_.end() ? 0 : it->second;
  }

 private:
  const int max_total_, max_per_key_;
  mutable std::mutex mutex_;
  int total_ = 0;
  std::map<std::string, int> per_key_;
};

}  // namespace prtkl::server
