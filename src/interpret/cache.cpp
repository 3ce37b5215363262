#include "interpret/cache.h"

#include <sqlite3.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "core/error.h"

namespace prtkl {

namespace {

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      fail("interpret cache ", path, ": ", sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  void bind(int i, const std::string& text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int step() { return sqlite3_step(stmt_); }
  std::string column_text(int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i))) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void bind_key(Statement& st, const CacheKey& key) {
  st.bind(1, key.word);
  st.bind(2, key.provider);
  st.bind(3, key.model);
  st.bind(4, key.template_version);
}

}  // namespace

InterpretCache::InterpretCache(const std::string& path) : path_(path) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    fail("cannot open interpret cache ", path, ": ", msg);
  }
  sqlite3_busy_timeout(db_, 5000);  // another prtkl process may be writing
  char* err = nullptr;
  const char* schema =
      "CREATE TABLE IF NOT EXISTS interpretations ("
      " word TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, template_version TEXT NOT NULL,"
      " result TEXT NOT NULL, created_at INTEGER NOT NULL,"
      " PRIMARY KEY (word, provider, model, template_version))";
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db_);
    fail("interpret cache ", path, ": ", msg);
  }
}

InterpretCache::~InterpretCache() { sqlite3_close(db_); }

std::optional<Json> InterpretCache::get(const CacheKey& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement st(db_,
               "SELECT result FROM interpretations WHERE word = ?1 AND provider = ?2 AND model = ?3 AND "
               "template_version = ?4",
               path_);
  bind_key(st, key);
  const int rc = st.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) fail("interpret cache ", path_, ": ", sqlite3_errmsg(db_));
  const auto text = st.column_text(0);
  try {
    return Json::parse(text);
  } catch (const Json::exception&) {
    return std::nullopt;  // a damaged row is recomputed and overwritten
  }
}

void InterpretCache::put(const CacheKey& key, const Json& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement st(db_,
               "INSERT OR REPLACE INTO interpretations (word, provider, model, template_version, result, created_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
               path_);
  bind_key(st, key);
  st.bind(5, value.dump());
  st.bind(6, static_cast<int64_t>(std::time(nullptr)));
  if (st.step() != SQLITE_DONE) fail("interpret cache ", path_, ": ", sqlite3_errmsg(db_));
}

std::string InterpretCache::default_path() {
  std::string dir;
  if (const char* d = std::getenv("PRTKL_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::string(x) + "/prtkl";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::string(h) + "/.cache/prtkl";
  } else {
    fail("no cache folder: set PRTKL_CACHE_DIR or HOME, or pass --no-cache");
  }
  return dir + "/interpret.sqlite";
}

}  // namespace prtkl
