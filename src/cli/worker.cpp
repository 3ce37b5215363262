// `prtkl worker`: runs the jobs a `prtkl serve --redis` front end queues, on the model it loads (docs/scaling.md).
// Start as many as there are GPUs or machines; each takes only jobs for the model it holds.

#include <iostream>

#include "cli/cli_util.h"
#include "cli/served_model.h"
#include "cli/stop_signal.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/runtime.h"
#include "server/redis_worker.h"

namespace prtkl::cli {

namespace {

struct WorkerArgs {
  ModelFlags m;
  std::string redis, name;
  double visibility_timeout_s = 30;
};

void run(WorkerArgs& a) {
  if (a.redis.empty()) fail("--redis is required: the redis://HOST:PORT the front end (prtkl serve --redis) uses");
  if (a.visibility_timeout_s < 3) fail("--visibility-timeout must be at least 3 seconds");
  set_threads(a.m.load.threads);
  if (a.m.model.empty()) a.m.model = bundled_model_path();
  const auto address = server::parse_redis_url(a.redis);
  auto served = load_served_model(a.m, a.m.model, true);

  server::WorkerOptions options;
  options.name = a.name;
  options.model = served.id;
  options.visibility_timeout_ms = static_cast<int64_t>(a.visibility_timeout_s * 1000);
  server::RedisWorker worker(address, *served.renderer, options);

  StopOnSignal stop("stopping after the current job", [&] { worker.stop(); });
  // One line on stdout when ready, so scripts and tests can wait for it.
  std::cout << "worker " << (a.name.empty() ? server::default_worker_name() : a.name) << " serving " << served.id
            << " from " << server::redacted_redis_url(a.redis) << std::endl;
  worker.run();
}

RegisterSubcommand reg("worker", [](CLI::App& app) {
  auto a = std::make_shared<WorkerArgs>();
  auto* sub = app.add_subcommand("worker", "Run the jobs of a `prtkl serve --redis` front end (docs/scaling.md)");
  add_model_flags(sub, a->m);
  sub->add_option("--redis", a->redis, "redis://HOST:PORT of the front end's queue")->required();
  sub->add_option("--name", a->name, "this worker's name, unique among the workers (default: HOST-PID)");
  sub->add_option("--visibility-timeout", a->visibility_timeout_s,
                  "seconds a silent worker's job waits before another worker takes it over")
      ->capture_default_str();
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
