// A stable content hash for cache keys (FNV-1a, 64 bit, as 16 hex digits): the same text gives the same key in
// every build and on every machine, which std::hash does not promise.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace prtkl {

inline std::string content_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace prtkl
