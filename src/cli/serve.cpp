// `prtkl serve`: the web app and its API on one loaded model (docs/api.md).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "adapters/adapter_setup.h"
#include "cli/cli_util.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "diffusion/models_folder.h"
#include "interpret/interpreter.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/model_slot.h"

namespace prtkl::cli {

namespace {

namespace fs = std::filesystem;

// SIGINT/SIGTERM write one byte to a pipe (async-signal-safe, whichever thread receives the signal, including
// libtorch's pool threads started before us); a watcher thread reads it and stops the server.
int g_signal_pipe[2] = {-1, -1};
void on_stop_signal(int) { (void)!write(g_signal_pipe[1], "x", 1); }

struct ServeArgs {
  std::string model, host = "127.0.0.1", data, web, device = "cpu", dtype = "fp32", config_dir, variant, vae;
  std::string providers, interpret_config, curation, train_dir, sweep, token;
  std::vector<std::string> loras, embeddings, allowed_hosts;
  int port = 8080, queue = 16, threads = 0, particles = 8000;
  int64_t keep_jobs = 1000, max_pixels = 4 << 20;
  int64_t steps = 20;
  double cfg = 7.0;
  std::string sampler = "euler";
};

// $PRTKL_DATA_DIR, else $XDG_DATA_HOME/prtkl, else ~/.local/share/prtkl.
std::string default_data_dir() {
  if (const char* d = std::getenv("PRTKL_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return (fs::path(x) / "prtkl").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".local" / "share" / "prtkl").string();
}

// $PRTKL_WEB_ROOT, else web/dist of the source tree.
std::string default_web_root() {
  if (const char* w = std::getenv("PRTKL_WEB_ROOT"); w && *w) return w;
  return resource_path("web/dist");
}

void run(const ServeArgs& a) {
  if (a.queue < 1) fail("--queue must be at least 1");
  if (a.port < 0 || a.port > 65535) fail("--port must be in [0, 65535]");
  if (a.keep_jobs < 0) fail("--keep-jobs must be 0 (keep all) or more");
  if (a.max_pixels < 64 * 64) fail("--max-pixels must be at least ", 64 * 64);
  server::ServerOptions options;
  options.host = a.host;
  options.port = a.port;
  options.token = a.token;
  if (options.token.empty())
    if (const char* t = std::getenv("PRTKL_TOKEN")) options.token = t;
  options.allowed_hosts = a.allowed_hosts;
  options.max_pixels = a.max_pixels;
  server::check_exposure(options);  // before the model loads: refusing takes no time
  set_threads(a.threads);
  const auto data_dir = a.data.empty() ? default_data_dir() : a.data;
  const auto web_root = a.web.empty() ? default_web_root() : a.web;
  if (!fs::exists(fs::path(web_root) / "index.html"))
    std::cerr << "warning: " << web_root << " has no index.html (build the web app: make web); the API still works\n";

  InterpreterOptions interpret_options;
  if (!a.interpret_config.empty())
    interpret_options = parse_interpreter_options(read_json_file(a.interpret_config), a.interpret_config);
  if (!a.providers.empty()) interpret_options.providers = split_commas(a.providers);
  if (interpret_options.cache_path.empty()) interpret_options.cache_path = (fs::path(data_dir) / "interpret.sqlite").string();

  std::unique_ptr<server::Curation> curation;
  if (!a.curation.empty())
    curation = std::make_unique<server::Curation>(
        a.curation, a.train_dir.empty() ? (fs::path(a.curation) / "train").string() : a.train_dir);

  server::RenderSettings settings;
  settings.steps = a.steps;
  settings.guidance_scale = a.cfg;
  settings.sampler = a.sampler;
  settings.particle_count = a.particles;
  settings.data_dir = data_dir;
  settings.max_pixels = a.max_pixels;
  // The model named on the command line comes with the command line's configs, VAE and adapters; one switched to
  // later (A1111's POST /sdapi/v1/options) is served as it is, and switching back to the first restores it whole.
  const auto serve_model = [&](const std::string& name, bool as_started) {
    LoadOptions lo;
    lo.device = parse_device(a.device);
    lo.dtype = parse_dtype(a.dtype, lo.device);
    lo.variant = a.variant;
    if (as_started) lo.config_dir = a.config_dir, lo.vae_path = a.vae;
    std::cerr << "loading " << name << "\n";
    server::ServedModel served;
    served.model = std::make_unique<StableDiffusionModel>(load_model(name, lo));
    for (const auto& w : served.model->warnings) std::cerr << "warning: " << w << "\n";
    const auto adapters = as_started ? apply_adapters(*served.model, a.loras, a.embeddings)
                                     : apply_adapters(*served.model, {}, {});
    for (const auto& w : adapters.warnings) std::cerr << "warning: " << w << "\n";
    served.id = adapters.id + (as_started && !a.vae.empty() ? "+vae:" + fs::path(a.vae).stem().string() : "");
    served.interpreter =
        std::make_unique<Interpreter>(Interpreter::create(interpret_options, load_model_prompt(find_in_models(name))));
    served.renderer = std::make_unique<server::PipelineRenderer>(*served.model, *served.interpreter, settings);
    return served;
  };
  auto first = serve_model(a.model, true);
  const auto first_id = first.id;
  server::ModelSlot slot(std::move(first),
                         [&](const std::string& name) {
                           return name == first_id ? serve_model(a.model, true) : serve_model(name, false);
                         });
  server::JobStore store((fs::path(data_dir) / "jobs.sqlite").string());
  server::JobService jobs(store, slot, static_cast<size_t>(a.queue), a.keep_jobs);

  options.web_root = web_root;
  options.data_dir = data_dir;
  options.model = first_id;
  options.model_slot = &slot;
  options.sweep_dir = a.sweep;
  server::HttpServer http(jobs, options, curation.get());
  const int port = http.bind();

  if (pipe(g_signal_pipe) != 0) fail("cannot create the signal pipe");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread signal_thread([&] {
    char byte;
    while (read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    std::cerr << "stopping (queued jobs stay queued and finish on the next start)\n";
    http.stop();
  });
  std::cerr << "data in " << data_dir << ", web app from " << web_root << "\n";
  // The URL on stdout, alone on its line, so scripts and tests can wait for it.
  std::cout << "listening on http://" << a.host << ":" << port << "/" << std::endl;
  http.listen();
  on_stop_signal(0);  // ends the watcher if listen() returned on its own
  signal_thread.join();
}

RegisterSubcommand reg("serve", [](CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* sub = app.add_subcommand("serve", "Serve the web app and its API (docs/api.md)");
  sub->add_option("--model,-m", a->model, "diffusers folder or single-file .safetensors checkpoint (default: the bundled model)");
  sub->add_option("--host", a->host, "address to bind")->capture_default_str();
  sub->add_option("--port", a->port, "port (0: any free port)")->capture_default_str();
  sub->add_option("--token", a->token,
                  "access token for the API (default $PRTKL_TOKEN; required when --host is not loopback)");
  sub->add_option("--allow-host", a->allowed_hosts,
                  "a Host name to answer besides the bound address, e.g. a reverse proxy's; repeatable");
  sub->add_option("--keep-jobs", a->keep_jobs, "finished jobs kept with their files, oldest pruned (0: all)")
      ->capture_default_str();
  sub->add_option("--max-pixels", a->max_pixels, "pixels one request may ask for (images × width × height)")
      ->capture_default_str();
  sub->add_option("--data", a->data, "folder for jobs, images and the database (default ~/.local/share/prtkl)");
  sub->add_option("--web", a->web, "web root (default: web/dist of the source tree)");
  sub->add_option("--queue", a->queue, "queued jobs before requests get 429")->capture_default_str();
  sub->add_option("--steps", a->steps, "denoising steps")->capture_default_str();
  sub->add_option("--cfg", a->cfg, "classifier-free guidance scale")->capture_default_str();
  sub->add_option("--sampler", a->sampler, "euler | euler_karras | euler_a | ddim | dpmpp_2m | dpmpp_2m_karras")
      ->capture_default_str();
  sub->add_option("--particles", a->particles, "particles per picture")->capture_default_str();
  sub->add_option("--provider", a->providers, "interpretation providers, first tried first (default offline)");
  sub->add_option("--interpret-config", a->interpret_config, "JSON config for interpretation (docs/prtkl-json.md)");
  sub->add_option("--lora", a->loras, "LoRA file, optionally FILE:scale; repeatable");
  sub->add_option("--embeddings", a->embeddings, "textual-inversion embeddings; repeatable");
  sub->add_option("--curation", a->curation, "a `prtkl dataset generate` folder to curate on /curation.html");
  sub->add_option("--train-dir", a->train_dir, "where curation exports kept images (default <curation>/train)");
  sub->add_option("--sweep", a->sweep, "a `prtkl sweep` output folder to show on /sweep.html");
  sub->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "fp32 | bf16 | fp16")->capture_default_str();
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  sub->add_option("--config", a->config_dir, "diffusers folder with configs/tokenizers for a single-file checkpoint");
  sub->add_option("--variant", a->variant, "weight variant to prefer in a diffusers folder, e.g. fp16");
  sub->add_option("--vae", a->vae,
                  "VAE file or folder (or its name under the models folder's vae/) to use instead of the model's");
  sub->callback([a] {
    if (a->model.empty()) a->model = bundled_model_path();
    run(*a);
  });
});

}  // namespace

}  // namespace prtkl::cli
