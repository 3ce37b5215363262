// The HTTP side of `prtkl serve` (cpp-httplib): the web app's static files, the job API with server-sent
// events, the gallery, health, the OpenAI Images endpoint, curation and sweep pages. Routes and shapes are
// documented in docs/api.md.
#pragma once
#include <memory>
#include <string>

#include "server/job_service.h"

namespace httplib {
class Server;
}

namespace prtkl::server {

class Curation;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (tests)
  std::string web_root;
  std::string data_dir;
  std::string model;         // the model id stored with jobs (cache key)
  std::string sweep_dir;     // optional: a `prtkl sweep` output folder
  int threads = 48;          // each open event stream holds one
  int max_images = 4;        // per OpenAI request
  int64_t max_image_side = 2048;
};

class HttpServer {
 public:
  HttpServer(JobService& jobs, ServerOptions options, Curation* curation = nullptr);
  ~HttpServer();
  int bind();    // binds host:port, returns the port; throws prtkl::Error when the port is taken
  void listen(); // serves until stop()
  void stop();

 private:
  void routes();
  JobService& jobs_;
  ServerOptions options_;
  Curation* curation_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace prtkl::server
