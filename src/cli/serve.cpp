// `prtkl serve`: the web app and its API on one loaded model (docs/api.md), or in front of `prtkl worker`
// processes that share a Redis queue (--redis, docs/scaling.md).

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/cli_util.h"
#include "cli/served_model.h"
#include "cli/stop_signal.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/job_service.h"
#include "server/redis_job_queue.h"

namespace prtkl::cli {

namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  ModelFlags m;
  std::string host = "127.0.0.1", web, curation, train_dir, sweep, token, redis, public_url;
  std::vector<std::string> allowed_hosts;
  int port = 8080, queue = 16;
  int64_t keep_jobs = 1000;
};

// $PRTKL_WEB_ROOT, else web/dist of the source tree.
std::string default_web_root() {
  if (const char* w = std::getenv("PRTKL_WEB_ROOT"); w && *w) return w;
  return resource_path("web/dist");
}

void run(ServeArgs& a) {
  if (a.queue < 1) fail("--queue must be at least 1");
  if (a.port < 0 || a.port > 65535) fail("--port must be in [0, 65535]");
  if (a.keep_jobs < 0) fail("--keep-jobs must be 0 (keep all) or more");
  if (a.m.max_pixels < 64 * 64) fail("--max-pixels must be at least ", 64 * 64);
  server::ServerOptions options;
  options.host = a.host;
  options.port = a.port;
  options.token = a.token;
  if (options.token.empty())
    if (const char* t = std::getenv("PRTKL_TOKEN")) options.token = t;
  options.allowed_hosts = a.allowed_hosts;
  options.public_url = a.public_url;
  options.max_pixels = a.m.max_pixels;
  server::check_exposure(options);  // before the model loads: refusing takes no time
  set_threads(a.m.load.threads);
  const auto data = data_dir(a.m);
  const auto web_root = a.web.empty() ? default_web_root() : a.web;
  if (!fs::exists(fs::path(web_root) / "index.html"))
    std::cerr << "warning: " << web_root << " has no index.html (build the web app: make web); the API still works\n";

  std::unique_ptr<server::Curation> curation;
  if (!a.curation.empty())
    curation = std::make_unique<server::Curation>(
        a.curation, a.train_dir.empty() ? (fs::path(a.curation) / "train").string() : a.train_dir);

  // With --redis the front end loads no model: `prtkl worker` processes hold them, and --model (if given) is the
  // id of the one jobs go to. Otherwise one model in this process, which POST /sdapi/v1/options may switch.
  std::unique_ptr<server::ModelSlot> slot;
  std::unique_ptr<server::JobStore> store;
  std::unique_ptr<server::JobQueue> jobs;
  if (!a.redis.empty()) {
    jobs = std::make_unique<server::RedisJobQueue>(server::parse_redis_url(a.redis), static_cast<size_t>(a.queue));
    options.model = a.m.model;
    std::cerr << "jobs in Redis at " << server::redacted_redis_url(a.redis) << (a.m.model.empty() ? ", for the model the workers hold" : ", for " + a.m.model) << "\n";
  } else {
    if (a.m.model.empty()) a.m.model = bundled_model_path();
    auto first = load_served_model(a.m, a.m.model, true);
    const auto first_id = first.id;
    slot = std::make_unique<server::ModelSlot>(std::move(first), [&a, first_id](const std::string& name) {
      return name == first_id ? load_served_model(a.m, a.m.model, true) : load_served_model(a.m, name, false);
    });
    store = std::make_unique<server::JobStore>((fs::path(data) / "jobs.sqlite").string());
    jobs = std::make_unique<server::JobService>(*store, *slot, static_cast<size_t>(a.queue), a.keep_jobs);
    options.model = first_id;
    options.model_slot = slot.get();
  }

  options.web_root = web_root;
  options.data_dir = data;
  options.sweep_dir = a.sweep;
  server::HttpServer http(*jobs, options, curation.get());
  const int port = http.bind();

  StopOnSignal stop("stopping (queued jobs stay queued and finish on the next start)", [&] { http.stop(); });
  std::cerr << "data in " << data << ", web app from " << web_root << "\n";
  // The URL on stdout, alone on its line, so scripts and tests can wait for it.
  std::cout << "listening on http://" << a.host << ":" << port << "/" << std::endl;
  http.listen();
}

RegisterSubcommand reg("serve", [](CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* sub = app.add_subcommand("serve", "Serve the web app and its API (docs/api.md)");
  add_model_flags(sub, a->m);
  sub->add_option("--host", a->host, "address to bind")->capture_default_str();
  sub->add_option("--port", a->port, "port (0: any free port)")->capture_default_str();
  sub->add_option("--token", a->token,
                  "access token for the API (default $PRTKL_TOKEN; required when --host is not loopback)");
  sub->add_option("--public-url", a->public_url,
                  "the server's address as clients reach it (https://prtkl.example.org behind a proxy): the base of "
                  "the image URLs the OpenAI endpoint answers (default http://<the request's Host>)");
  sub->add_option("--allow-host", a->allowed_hosts,
                  "a Host name to answer besides the bound address, e.g. a reverse proxy's; repeatable");
  sub->add_option("--keep-jobs", a->keep_jobs, "finished jobs kept with their files, oldest pruned (0: all)")
      ->capture_default_str();
  sub->add_option("--web", a->web, "web root (default: web/dist of the source tree)");
  sub->add_option("--queue", a->queue, "queued jobs before requests get 429")->capture_default_str();
  sub->add_option("--redis", a->redis,
                  "redis://HOST:PORT: jobs go to `prtkl worker` processes through Redis (docs/scaling.md)");
  sub->add_option("--curation", a->curation, "a `prtkl dataset generate` folder to curate on /curation.html");
  sub->add_option("--train-dir", a->train_dir, "where curation exports kept images (default <curation>/train)");
  sub->add_option("--sweep", a->sweep, "a `prtkl sweep` output folder to show on /sweep.html");
  sub->callback([a, sub] {
    // With --redis the workers draw: flags about drawing would be silently ignored here, so they are refused.
    if (!a->redis.empty())
      for (const auto& flag : drawing_flags_given(sub))
        fail(flag, " with --redis belongs on `prtkl worker`, which draws the pictures");
    run(*a);
  });
});

}  // namespace

}  // namespace prtkl::cli
