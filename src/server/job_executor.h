// Running one taken job, written once for both queues: the in-process worker thread (job_service.h) and
// `prtkl worker` behind Redis (redis_worker.h). So a job's timings, its end and the error its record shows are the
// same whichever ran it.
#pragma once
#include <stdexcept>
#include <string>

#include "server/job_queue.h"

namespace prtkl::server {

// What a failed job's record says; the details (paths, library errors) go to the log of the worker that ran it.
inline constexpr const char* kJobFailedMessage = "the job failed (the worker's log has the details)";

// A progress report (JobProgress) stops a job by throwing one of these.
// The job was cancelled (JobQueue::cancel, or a preview replaced or preempted): it ends with the reason as its error.
struct JobCancelled : std::runtime_error {
  explicit JobCancelled(const char* reason = kCancelledMessage) : std::runtime_error(reason) {}
};
// The job is no longer this worker's (another took it over): run_job lets it through, the new owner finishes it.
struct JobTakenOver : std::runtime_error {
  JobTakenOver() : std::runtime_error("taken over by another worker") {}
};

// Runs `job` with `renderer`: marks it running, then done, or failed with kJobFailedMessage (the exception logged
// under `worker`'s name), or cancelled; fills in its queued and total times. Throws only JobTakenOver.
void run_job(Job& job, JobRenderer& renderer, JobProgress& progress, const std::string& worker);

}  // namespace prtkl::server
