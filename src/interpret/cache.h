// Interpretations cached in SQLite, keyed by (word, provider, model, template version), so a word costs one LLM
// call ever. Safe to share between threads and processes (SQLite's locking, one connection behind a mutex).
#pragma once
#include <mutex>
#include <optional>
#include <string>

#include "core/json_config.h"

struct sqlite3;

namespace prtkl {

struct CacheKey {
  std::string word;
  std::string provider;  // Provider::cache_id()
  std::string model;
  std::string template_version;
};

class InterpretCache {
 public:
  // Opens or creates the database (and its folder). Errors name the path.
  explicit InterpretCache(const std::string& path);
  ~InterpretCache();
  InterpretCache(const InterpretCache&) = delete;
  InterpretCache& operator=(const InterpretCache&) = delete;

  std::optional<Json> get(const CacheKey& key);
  void put(const CacheKey& key, const Json& value);
  const std::string& path() const { return path_; }

  // $PRTKL_CACHE_DIR, else $XDG_CACHE_HOME/prtkl, else ~/.cache/prtkl; the file is interpret.sqlite.
  static std::string default_path();

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace prtkl
