// The HTTP side of `prtkl serve` (cpp-httplib): the web app's static files, the job API with server-sent
// events, the gallery, health, the OpenAI Images endpoint, curation and sweep pages. Routes and shapes are
// documented in docs/api.md; each API's routes are in a file of its own (routes_*.cpp).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/capped_counts.h"
#include "server/job_queue.h"
#include "server/request_gate.h"
#include "server/token_backoff.h"

namespace httplib {
struct Request;
struct Response;
}

namespace prtkl::server {

class BoundedHeadServer;
class Curation;
class ModelSlot;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (tests)
  std::string web_root;
  std::string data_dir;
  std::string model;         // the model id stored with jobs (cache key); empty: the one the workers hold
  ModelSlot* model_slot = nullptr;  // when set, the served model (its id replaces `model`) and switching it
  std::string sweep_dir;     // optional: a `prtkl sweep` output folder
  std::string token;         // access token for the API and result files; required off loopback and with a proxy
  std::vector<std::string> allowed_hosts;  // Host names besides the bound address (a reverse proxy's)
  std::string public_url;  // "https://name[:port]" clients reach the server at; empty: http://<the request's Host>
  int max_connections = 512;               // open connections in all, each with its thread; 503 beyond
  int max_connections_per_address = 128;   // open connections from one client address; 503 beyond
  int max_streams = 16;                    // requests held open (event streams, OpenAI requests) in all; 503 beyond
  int max_streams_per_job = 4;
  int read_timeout_s = 5;      // a client silent this long mid-request is dropped
  int request_timeout_s = 10;  // a request's head and body must arrive within this long of its first byte
  int max_images = 4;        // per OpenAI request
  int64_t max_image_side = 2048;
  int64_t max_pixels = 4 << 20;  // n × width × height of one request
};

// Throws prtkl::Error when the options would expose the server unprotected: a host other than loopback
// without a token.
void check_exposure(const ServerOptions& options);

class HttpServer {
 public:
  HttpServer(JobQueue& jobs, ServerOptions options, Curation* curation = nullptr);  // check_exposure first
  ~HttpServer();
  int bind();    // binds host:port, returns the port; throws prtkl::Error when the port is taken
  void listen(); // serves until stop()
  void stop();

 private:
  class StreamSlot;
  // The routes, one group per API (routes_*.cpp).
  void job_routes();       // the page's: generate, jobs and their events, session, gallery, health, styles
  void openai_routes();    // OpenAI Images
  void a1111_routes();     // AUTOMATIC1111
  void curation_routes();  // curation and sweep
  void file_routes();      // result files and the web app: registered last, its catch-all matches every path
  std::string model_id() const;  // the model jobs are cached under now
  // "scheme://host[:port]" clients reach this server at: --public-url, else http:// and the request's Host.
  std::string public_base(const httplib::Request& req) const;
  // What POST /sdapi/v1/options may switch to, as GET /sdapi/v1/sd-models lists it: (name, what the model slot
  // loads for it). The served model first, then the one the server started with, then the models folder's.
  std::vector<std::pair<std::string, std::string>> switchable_models() const;
  // The style a request asks for ("": none named) as jobs carry it: the served model's default, "none" or a
  // known name; throws prtkl::Error naming the known ones. Behind Redis the front end knows no styles: as given.
  std::string job_style(const std::string& requested) const;
  std::vector<std::string> style_names() const;  // the served model's, "none" first; empty behind Redis
  // Requests held open (held_requests.cpp). A slot for one on `job_id` (shared: an event stream's provider keeps
  // it), or null when the limits are reached.
  std::shared_ptr<StreamSlot> take_stream_slot(const std::string& job_id);
  bool watched(const std::string& job_id);  // an event stream is open on the job
  // A "prompt" job that a request holds open until its images exist (OpenAI Images, A1111 txt2img): takes a
  // stream slot, queues the job and waits for it. The finished job, or nullopt once the refusal, timeout or
  // failure is written (the body in the caller's error shape) or the client has hung up.
  using ErrorBody = std::function<Json(int status, const std::string& message)>;
  std::optional<Job> run_held_job(const httplib::Request& req, httplib::Response& res, Job job,
                                  const ErrorBody& error_body);
  JobQueue& jobs_;
  ServerOptions options_;
  Curation* curation_;
  GateOptions gate_;  // complete once bind() knows the port
  TokenBackoff token_backoff_;
  std::unique_ptr<BoundedHeadServer> http_;
  CappedCounts streams_;  // requests held open, per job
};

}  // namespace prtkl::server
