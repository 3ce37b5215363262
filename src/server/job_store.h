// Jobs in SQLite (WAL), so the gallery survives restarts and no queued job vanishes. One connection behind a
// mutex; every write is one statement, so a killed server leaves the database consistent.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/job.h"

struct sqlite3;

namespace prtkl::server {

class JobStore {
 public:
  explicit JobStore(const std::string& path);  // creates the file and schema; errors name the path
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  void put(const Job& job);  // insert or replace
  std::optional<Job> get(const std::string& id);
  // A finished job of kind "word" with this key, seed and model: the result cache.
  std::optional<Job> find_done(const std::string& key, uint64_t seed, const std::string& model);
  // Finished word jobs, newest first.
  std::vector<Job> gallery(int64_t offset, int64_t limit);
  int64_t gallery_size();
  // Jobs in a state, oldest first (restart recovery).
  std::vector<Job> with_state(JobState state);
  // Deletes finished jobs (done or failed) beyond the newest `keep` and returns them, so their files can go too.
  std::vector<Job> prune_finished(int64_t keep);

 private:
  void add_sequence_column();
  std::vector<Job> query(const std::string& sql, const std::vector<std::string>& args);
  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace prtkl::server
