#include "server/job_executor.h"

#include <iostream>

namespace prtkl::server {

void run_job(Job& job, JobRenderer& renderer, JobProgress& progress, const std::string& worker) {
  job.state = JobState::kRunning;
  job.timings.queued_ms = now_ms() - job.created_ms;
  try {
    renderer.run(job, progress);
    job.state = JobState::kDone;
    job.stage = "done";
  } catch (const JobTakenOver&) {
    throw;
  } catch (const JobCancelled& e) {
    job.state = JobState::kError;
    job.stage = "error";
    job.error = e.what();
  } catch (const std::exception& e) {
    job.state = JobState::kError;
    job.stage = "error";
    job.error = kJobFailedMessage;
    std::cerr << "job " << job.id << " failed on " << worker << ": " << e.what() << "\n";
  }
  job.timings.total_ms = now_ms() - job.created_ms;
}

}  // namespace prtkl::server
