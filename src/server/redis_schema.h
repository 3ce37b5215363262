// What the front end (server/redis_job_queue.h) and the workers (server/redis_worker.h) keep in Redis, in one
// place so both sides agree:
//
//   prtkl:job:ID            the job's record (job_record JSON)
//   prtkl:jobs:MODEL        a stream of job ids for workers holding MODEL; consumer group "workers". An entry is
//                           acknowledged and deleted when its job ends, so length - pending = jobs waiting
//   prtkl:events:ID         the job's events, in order: a stream whose entry ids are 0-1, 0-2, ... (the SSE cursor)
//   prtkl:owner:ID          the worker running the job; only it may store progress or finish the job
//   prtkl:attempts:ID       how many workers took the job (a dead worker's job is retried, up to a limit)
//   prtkl:cancel:ID         set when a client gave up on a running job
//   prtkl:inflight:M|K|S    the queued or running word job with model M, key K, seed S (later requests join it)
//   prtkl:done:M|K|S        the finished word job with them (the result cache)
//   prtkl:gallery           finished word jobs by creation time (sorted set)
//   prtkl:models            the models jobs were queued for (the streams to count)
//   prtkl:workers           worker name -> its announcement {"model", "state", "job", "seen_ms"}
#pragma once
#include <string>

#include "server/job.h"

namespace prtkl::server::redis_schema {

inline const std::string kGroup = "workers";
inline std::string job(const std::string& id) { return "prtkl:job:" + id; }
inline std::string stream(const std::string& model) { return "prtkl:jobs:" + model; }
inline std::string events(const std::string& id) { return "prtkl:events:" + id; }
inline std::string owner(const std::string& id) { return "prtkl:owner:" + id; }
inline std::string attempts(const std::string& id) { return "prtkl:attempts:" + id; }
inline std::string cancel(const std::string& id) { return "prtkl:cancel:" + id; }
inline std::string word_key(const Job& j) { return j.model + "|" + j.key + "|" + std::to_string(j.seed); }
inline std::string inflight(const Job& j) { return "prtkl:inflight:" + word_key(j); }
inline std::string done(const Job& j) { return "prtkl:done:" + word_key(j); }
inline const std::string kGallery = "prtkl:gallery";
inline const std::string kModels = "prtkl:models";
inline const std::string kWorkers = "prtkl:workers";

constexpr int64_t kWorkerStaleMs = 10000;  // a worker not seen this long is gone

// Ends a job: stores the final record and event, fills the cache and gallery, releases the in-flight key.
// Only the job's owner may, and only once (a slow worker whose job was retried elsewhere is refused).
// KEYS: job, owner, events, done, inflight, gallery, attempts
// ARGV: worker, record, event name, event data, id, created_ms, "1" for a finished word job
inline const char* kFinishScript = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local state = cjson.decode(raw)['state']
if state == 'done' or state == 'error' then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[3], '0-*', 'name', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[3], 86400)  -- a day for late readers of the log
if ARGV[7] == '1' then
  redis.call('SET', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[5])
end
if redis.call('GET', KEYS[5]) == ARGV[5] then redis.call('DEL', KEYS[5]) end
redis.call('DEL', KEYS[2], KEYS[7])
return 1
)lua";

}  // namespace prtkl::server::redis_schema
