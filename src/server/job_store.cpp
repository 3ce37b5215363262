#include "server/job_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "core/error.h"

namespace prtkl::server {

JobStore::JobStore(const std::string& path) : path_(path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail(path, ": cannot open the job database: ", why);
  }
  sqlite3_busy_timeout(db_, 5000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL,"
      " key TEXT NOT NULL, seed TEXT NOT NULL, model TEXT NOT NULL, created_ms INTEGER NOT NULL,"
      " record TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX IF NOT EXISTS jobs_cache ON jobs(key, seed, model, state);"
      "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created_ms);";
  char* err = nullptr;
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db_);
    db_ = nullptr;
    fail(path, ": cannot create the job tables: ", why);
  }
  add_sequence_column();
}

// Jobs created in the same millisecond are ordered by when they were first stored (a random id would order them
// by chance). Databases written before the column existed get it here; their old rows share 0 (ordered by time
// alone, as before) and every row stored from then on comes after them.
void JobStore::add_sequence_column() {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'seq'", -1, &st, nullptr);
  const bool has = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
  sqlite3_finalize(st);
  if (has) return;
  char* err = nullptr;
  if (sqlite3_exec(db_, "ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0", nullptr, nullptr, &err) !=
      SQLITE_OK) {
    const std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    fail(path_, ": cannot add the job sequence column: ", why);
  }
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::put(const Job& job) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_,
                     "INSERT INTO jobs(id, kind, state, key, seed, model, created_ms, record, seq)"
                     " VALUES(?,?,?,?,?,?,?,?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs))"
                     " ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, state = excluded.state,"
                     " key = excluded.key, seed = excluded.seed, model = excluded.model,"
                     " created_ms = excluded.created_ms, record = excluded.record",
                     -1, &st, nullptr);
  const std::string record = job_record(job).dump();
  const std::string seed = std::to_string(job.seed);
  sqlite3_bind_text(st, 1, job.id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, job.kind.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, to_string(job.state), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, job.key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, seed.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 6, job.model.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 7, job.created_ms);
  sqlite3_bind_text(st, 8, record.c_str(), -1, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) fail(path_, ": cannot store job ", job.id, ": ", sqlite3_errmsg(db_));
}

std::vector<Job> JobStore::query(const std::string& sql, const std::vector<std::string>& args) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    fail(path_, ": bad query: ", sqlite3_errmsg(db_));
  for (size_t i = 0; i < args.size(); ++i) sqlite3_bind_text(st, int(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Job> jobs;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    try {
      jobs.push_back(job_from_record(Json::parse(text ? text : "")));
    } catch (const std::exception& e) {
      sqlite3_finalize(st);
      fail(path_, ": corrupt job record: ", e.what());
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) fail(path_, ": query failed: ", sqlite3_errmsg(db_));
  return jobs;
}

std::optional<Job> JobStore::get(const std::string& id) {
  auto jobs = query("SELECT record FROM jobs WHERE id = ?", {id});
  if (jobs.empty()) return std::nullopt;
  return jobs.front();
}

std::optional<Job> JobStore::find_done(const std::string& key, uint64_t seed, const std::string& model) {
  auto jobs = query(
      "SELECT record FROM jobs WHERE key = ? AND seed = ? AND model = ? AND state = 'done' AND kind = 'word'"
      " ORDER BY created_ms DESC, seq DESC LIMIT 1",
      {key, std::to_string(seed), model});
  if (jobs.empty()) return std::nullopt;
  return jobs.front();
}

std::vector<Job> JobStore::gallery(int64_t offset, int64_t limit) {
  return query(
      "SELECT record FROM jobs WHERE state = 'done' AND kind = 'word' ORDER BY created_ms DESC, seq DESC LIMIT ? OFFSET ?",
      {std::to_string(limit), std::to_string(offset)});
}

int64_t JobStore::gallery_size() {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND kind = 'word'", -1, &st, nullptr);
  int64_t n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

std::vector<Job> JobStore::with_state(JobState state) {
  return query("SELECT record FROM jobs WHERE state = ? ORDER BY created_ms, seq", {to_string(state)});
}

std::vector<Job> JobStore::prune_finished(int64_t keep) {
  auto old = query(
      "SELECT record FROM jobs WHERE state IN ('done', 'error') ORDER BY created_ms DESC, seq DESC LIMIT -1 OFFSET ?",
      {std::to_string(keep)});
  std::lock_guard lock(mutex_);
  for (const auto& job : old) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "DELETE FROM jobs WHERE id = ?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, job.id.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) fail(path_, ": cannot delete job ", job.id, ": ", sqlite3_errmsg(db_));
  }
  return old;
}

}  // namespace prtkl::server
