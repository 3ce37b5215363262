// Requests held open, each holding its connection's thread: event streams and the requests that wait for their
// images (OpenAI Images, A1111 txt2img). Their number is bounded, in all and per job, so they can never take every
// thread (a new generate must still get one).
#include <iostream>

#include "server/bounded_head_server.h"
#include "server/http_server.h"
#include "server/peer_closed.h"
#include "server/routes.h"

namespace prtkl::server {

namespace {
constexpr int kHeldJobWaitMs = 600000;
constexpr int kDisconnectPollMs = 500;  // how often a waiting request checks that its client is still there
}  // namespace

// A held-open request's share of the limits; released when the response is done.
class HttpServer::StreamSlot {
 public:
  StreamSlot(HttpServer& server, std::string job_id) : server_(server), job_id_(std::move(job_id)) {}
  ~StreamSlot() { server_.streams_.release(job_id_); }

 private:
  HttpServer& server_;
  std::string job_id_;
};

std::shared_ptr<HttpServer::StreamSlot> HttpServer::take_stream_slot(const std::string& job_id) {
  return streams_.take(job_id) ? std::make_shared<StreamSlot>(*this, job_id) : nullptr;
}

bool HttpServer::watched(const std::string& job_id) {
  return streams_.count(job_id) > 1;  // beyond the held request's own slot
}

std::optional<Job> HttpServer::run_held_job(const httplib::Request& req, httplib::Response& res, Job job,
                                            const ErrorBody& error_body) {
  // The request waits for its images, holding its thread: it takes a stream slot like an event stream.
  const auto slot = take_stream_slot(job.id);
  if (!slot) {
    res.set_header("Retry-After", "5");
    refuse(res, 503, error_body(503, "too many requests in progress, retry later"));
    return std::nullopt;
  }
  job.kind = "prompt";
  job.key = job.prompt;
  job.model = model_id();
  job.created_ms = now_ms();
  job.created_at = iso8601(job.created_ms);
  const auto r = jobs_.submit(job);
  if (r.outcome == SubmitResult::Outcome::kQueueFull) {
    res.set_header("Retry-After", std::to_string(r.retry_after_s));
    reply(res, 429, error_body(429, "the queue is full, retry later"));
    return std::nullopt;
  }
  // A client that hangs up meanwhile takes its job with it, unless an event stream still watches the job.
  const int fd = http_->socket_of(req);
  std::optional<Job> done;
  for (int waited = 0; waited < kHeldJobWaitMs; waited += kDisconnectPollMs) {
    done = jobs_.wait(job.id, kDisconnectPollMs);
    if (!done || (done->state != JobState::kQueued && done->state != JobState::kRunning)) break;
    if (fd >= 0 && peer_closed(fd) && !watched(job.id)) {
      jobs_.cancel(job.id);
      std::cerr << "job " << job.id << " cancelled: its client went away\n";
      return std::nullopt;
    }
  }
  if (!done || done->state == JobState::kQueued || done->state == JobState::kRunning) {
    reply(res, 504, error_body(504, "the image is not ready yet: poll /api/jobs/" + job.id));
    return std::nullopt;
  }
  if (done->state == JobState::kError) {
    reply(res, 500, error_body(500, done->error));
    return std::nullopt;
  }
  return done;
}

}  // namespace prtkl::server
