// The API over real HTTP on loopback, with the tiny fixture model doing the real work (4 steps, so it is quick).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/base64.h"
#include "core/file_util.h"
#include "core/http.h"
#include "diffusion/model_loader.h"
#include "diffusion/scheduler.h"
#include "interpret/interpreter.h"
#include "particles/particles.h"
#include "server/a1111_api.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/job_service.h"
#include "server/pipeline_renderer.h"
#include "support/fixtures.h"

namespace prtkl::server {
namespace {

namespace fs = std::filesystem;

// One server for the whole suite: loading the model once keeps the suite fast.
struct Env {
  std::string dir, data, web;
  std::unique_ptr<StableDiffusionModel> model;
  std::unique_ptr<Interpreter> interpreter;
  std::unique_ptr<PipelineRenderer> renderer;
  std::unique_ptr<JobStore> store;
  std::unique_ptr<JobService> jobs;
  std::unique_ptr<Curation> curation;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = 0;
};
Env* env = nullptr;

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

class HttpApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    env->dir = test::scratch_dir("http_api." + std::to_string(getpid()));  // ctest runs tests in parallel processes
    env->data = env->dir + "/data";
    env->web = env->dir + "/web";
    fs::create_directories(env->web);
    write_text(env->web + "/index.html", "<!doctype html><title>prtkl</title>");
    write_text(env->dir + "/secret.txt", "secret");
    // Curation candidates: two tiny PNGs with captions.
    const auto cur = env->dir + "/candidates";
    fs::create_directories(cur);
    Image img{2, 2, 3, std::vector<uint8_t>(12, 200)};
    write_png(cur + "/0000.png", img);
    write_png(cur + "/0001.png", img);
    write_text(cur + "/candidates.jsonl",
               "{\"file_name\": \"0000.png\", \"text\": \"prtkl, a bird\"}\n"
               "{\"file_name\": \"0001.png\", \"text\": \"prtkl, a tree\"}\n");
    env->curation = std::make_unique<Curation>(cur, env->dir + "/train");

    const auto model_path = test::fixture_path("tiny-sd15");
    env->model = std::make_unique<StableDiffusionModel>(load_model(model_path, {}));
    InterpreterOptions io;  // offline, no cache
    env->interpreter = std::make_unique<Interpreter>(Interpreter::create(io, load_model_prompt(model_path)));
    RenderSettings rs;
    rs.steps = 4;
    rs.particle_count = 500;
    rs.data_dir = env->data;
    env->renderer = std::make_unique<PipelineRenderer>(*env->model, *env->interpreter, rs);
    env->store = std::make_unique<JobStore>(env->data + "/jobs.sqlite");
    env->jobs = std::make_unique<JobService>(*env->store, *env->renderer, 4);
    ServerOptions so;
    so.port = 0;
    so.web_root = env->web;
    so.data_dir = env->data;
    so.model = "tiny-sd15";
    env->http = std::make_unique<HttpServer>(*env->jobs, so, env->curation.get());
    env->port = env->http->bind();
    env->thread = std::thread([] { env->http->listen(); });
  }
  static void TearDownTestSuite() {
    env->http->stop();
    env->thread.join();
    delete env;
    env = nullptr;
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", env->port);
    c.set_read_timeout(120, 0);
    return c;
  }
  Json post(const std::string& path, const std::string& body, int* status = nullptr) {
    auto c = client();
    auto res = c.Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    if (status) *status = res->status;
    return Json::parse(res->body);
  }
  Json get(const std::string& path, int* status = nullptr) {
    auto c = client();
    auto res = c.Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    if (status) *status = res->status;
    return Json::parse(res->body);
  }
  // The event stream of a job until it closes: (name, data) pairs.
  std::vector<std::pair<std::string, Json>> events(const std::string& id) {
    auto c = client();
    std::string body;
    auto res = c.Get(("/api/jobs/" + id + "/events").c_str(), [&](const char* data, size_t n) {
      body.append(data, n);
      return true;
    });
    EXPECT_TRUE(res);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    std::vector<std::pair<std::string, Json>> out;
    size_t pos = 0;
    while ((pos = body.find("event: ", pos)) != std::string::npos) {
      const auto nl = body.find('\n', pos);
      const auto name = body.substr(pos + 7, nl - pos - 7);
      const auto data_end = body.find("\n\n", nl);
      out.emplace_back(name, Json::parse(body.substr(nl + 7, data_end - nl - 7)));
      pos = data_end;
    }
    return out;
  }
  Json wait_done(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      const auto job = get("/api/jobs/" + id);
      if (job["state"] == "done" || job["state"] == "error") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " did not finish";
    return {};
  }
};

// Sends raw bytes (no client-side normalisation of the path) and returns the status code.
int raw_status(const std::string& request_target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(env->port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const auto req = "GET " + request_target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(env->port) +
                   "\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  if (resp.find("secret") != std::string::npos) return 999;  // leaked a file outside the roots
  if (resp.size() < 12) return -1;
  return std::stoi(resp.substr(9, 3));
}

TEST_F(HttpApi, WordBecomesImageAndParticlesWithEvents) {
  int status = 0;
  const auto created = post("/api/generate", R"({"word": "love", "seed": 7})", &status);
  ASSERT_TRUE(status == 202 || status == 200) << created.dump();
  const auto id = created["id"].get<std::string>();
  const auto ev = events(id);
  ASSERT_FALSE(ev.empty());
  std::vector<std::string> names;
  for (const auto& [n, d] : ev) names.push_back(n);
  EXPECT_EQ(names.back(), "done");
  for (const char* expected : {"interpreting", "prompt", "step", "particles"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  bool preview = false;
  for (const auto& [n, d] : ev)
    if (n == "step" && d.contains("preview")) preview = d["preview"].get<std::string>().rfind("data:image/png;base64,", 0) == 0;
  EXPECT_TRUE(preview) << "a step event carries a preview";

  const auto job = get("/api/jobs/" + id);
  EXPECT_EQ(job["state"], "done");
  EXPECT_EQ(job["word"], "love");
  EXPECT_EQ(job["scene"], "two people hugging");
  EXPECT_EQ(job["steps"], 4);
  EXPECT_GT(job["timings"]["total_ms"].get<int64_t>(), 0);
  auto c = client();
  auto png = c.Get(job["image_url"].get<std::string>().c_str());
  ASSERT_TRUE(png);
  EXPECT_EQ(png->status, 200);
  EXPECT_EQ(png->get_header_value("Content-Type"), "image/png");
  auto bin = c.Get(job["particles_url"].get<std::string>().c_str());
  ASSERT_TRUE(bin);
  const auto particles = particles_from_binary(bin->body, "particles.bin");
  EXPECT_EQ(static_cast<int64_t>(particles.particles.size()), job["particle_count"].get<int64_t>());

  // Same word + seed + model: served from the store, same id, no new work.
  const auto again = post("/api/generate", R"({"word": "Love", "seed": 7})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(again["id"], id);
  EXPECT_EQ(again["cached"], true);
  // A finished job's stream replays its outcome.
  EXPECT_EQ(events(id).back().first, "done");
}

TEST_F(HttpApi, BadInputGets4xx) {
  int status = 0;
  const std::string long_word(10000, 'a');
  for (const std::string& body : std::vector<std::string>{R"({"word": ""})", R"({"word": "   "})", "{\"word\": \"" + long_word + "\"}",
                                 R"({"word": "<script>alert(1)</script>"})", R"({"word": "<b>hi</b>"})",
                                 R"({"word": 42})", R"({})", "not json", R"({"word": "rain", "seed": -1})",
                                 R"({"word": "rain", "seed": "x"})", "[1,2]"}) {
    const auto r = post("/api/generate", body, &status);
    EXPECT_EQ(status, 400) << body.substr(0, 80);
    EXPECT_TRUE(r.contains("error"));
  }
  // Invalid UTF-8.
  post("/api/generate", "{\"word\": \"\xff\xfe\"}", &status);
  EXPECT_EQ(status, 400);
  // Letters of other scripts are words.
  const auto uni = post("/api/generate", R"({"word": "любовь", "seed": 3})", &status);
  EXPECT_TRUE(status == 202 || status == 200) << uni.dump();
  EXPECT_EQ(wait_done(uni["id"])["word"], "любовь");

  get("/api/jobs/j_0123456789abcdef", &status);
  EXPECT_EQ(status, 404);
  get("/api/jobs/nonsense", &status);
  EXPECT_EQ(status, 404);
  get("/api/jobs/j_0123456789abcdef/events", &status);
  EXPECT_EQ(status, 404);
  get("/api/gallery?page=-1", &status);
  EXPECT_EQ(status, 400);
  get("/api/gallery?per_page=abc", &status);
  EXPECT_EQ(status, 400);
}

TEST_F(HttpApi, StaticRoutesNeverLeaveTheirRoots) {
  EXPECT_EQ(raw_status("/"), 200);
  EXPECT_EQ(raw_status("/index.html"), 200);
  EXPECT_EQ(raw_status("/missing.js"), 404);
  for (const char* target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt", "/a/../../secret.txt", "/files/jobs/../../secret.txt", "/files/jobs/%2e%2e/jobs.sqlite",
        "/files/curation/../../secret.txt", "/files/sweep/x.png", "//secret.txt", "/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/..%00/secret.txt", "/%252e%252e/secret.txt"}) {
    const int status = raw_status(target);
    EXPECT_GE(status, 400) << target;
    EXPECT_LT(status, 500) << target;
  }
}

TEST_F(HttpApi, HealthAndGallery) {
  const auto health = get("/api/health");
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["model"], "tiny-sd15");
  EXPECT_EQ(health["queue"]["capacity"], 4);
  const auto r = post("/api/generate", R"({"word": "rain", "seed": 11})");
  wait_done(r["id"]);
  const auto page = get("/api/gallery?page=0&per_page=1");
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_GE(page["total"].get<int>(), 1);
  EXPECT_EQ(page["per_page"], 1);
  EXPECT_EQ(page["items"][0]["state"], "done");
}

TEST_F(HttpApi, OpenAIImagesEndpoint) {
  int status = 0;
  const auto b64 = post("/v1/images/generations",
                        R"({"prompt": "a red circle", "n": 2, "size": "64x64", "response_format": "b64_json"})", &status);
  ASSERT_EQ(status, 200) << b64.dump();
  ASSERT_EQ(b64["data"].size(), 2u);
  const auto bytes = base64_decode(b64["data"][0]["b64_json"].get<std::string>());
  const auto path = test::scratch_dir("openai") + "/a.png";
  write_file_atomic(path, bytes);
  const auto img = read_image(path);
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  EXPECT_GT(b64["created"].get<int64_t>(), 0);

  const auto url = post("/v1/images/generations", R"({"prompt": "a tree"})", &status);
  ASSERT_EQ(status, 200);
  auto c = client();
  const auto absolute = url["data"][0]["url"].get<std::string>();
  ASSERT_EQ(absolute.rfind("http://", 0), 0u) << absolute;  // OpenAI's clients fetch it as it is
  auto res = c.Get(absolute.substr(absolute.find('/', 7)).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  for (const char* body : {R"({"n": 1})", R"({"prompt": "x", "n": 0})", R"({"prompt": "x", "n": 99})",
                           R"({"prompt": "x", "size": "big"})", R"({"prompt": "x", "size": "63x64"})",
                           R"({"prompt": "x", "response_format": "jpeg"})"}) {
    const auto e = post("/v1/images/generations", body, &status);
    EXPECT_EQ(status, 400) << body;
    EXPECT_TRUE(e["error"].contains("message")) << body;
    EXPECT_EQ(e["error"]["type"], "invalid_request_error") << body;
  }
  // The API's pictures are the caller's, not the web app's: the gallery lists only words.
  const auto gallery = get("/api/gallery");
  EXPECT_EQ(gallery.dump().find("a red circle"), std::string::npos) << gallery.dump();
  EXPECT_EQ(gallery.dump().find("a tree"), std::string::npos) << gallery.dump();
}

// AUTOMATIC1111's API as Open WebUI's image backend calls it (../shared/notes/a1111-api-clients.md): options
// (read, then posted back whole with the checkpoint), sd-models, then txt2img with ints, bare base64 PNGs back
// and `info` as a JSON string; SillyTavern's extra fields are ignored; bad input and an unknown checkpoint get
// A1111's error shape.
TEST_F(HttpApi, Automatic1111ApiAsItsClientsCallIt) {
  int status = 0;
  auto options = get("//sdapi/v1/options", &status);  // a base URL ending in "/"
  ASSERT_EQ(status, 200);
  const auto checkpoint = options.at("sd_model_checkpoint").get<std::string>();
  ASSERT_EQ(checkpoint, "tiny-sd15");
  const auto models = get("/sdapi/v1/sd-models");
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models.at(0).at("title").get<std::string>(), checkpoint) << "clients switch by title";
  EXPECT_TRUE(models.at(0).at("model_name").is_string());
  auto c = client();
  auto posted = c.Post("/sdapi/v1/options", options.dump(), "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200) << options.dump();
  EXPECT_EQ(posted->body, "null");
  options["sd_model_checkpoint"] = "v1-5-pruned-emaonly.safetensors [6ce0161689]";
  const auto unknown = post("/sdapi/v1/options", options.dump(), &status);
  EXPECT_EQ(status, 500);
  EXPECT_EQ(unknown["error"], "RuntimeError");
  EXPECT_NE(unknown["errors"].get<std::string>().find("not found"), std::string::npos);

  const auto samplers = get("/sdapi/v1/samplers");
  std::set<std::string> names;
  for (const auto& s : samplers) names.insert(s["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"Euler", "Euler a", "DDIM", "DPM++ 2M", "LCM"}));
  for (const auto& id : scheduler_names()) {  // every sampler of prtkl's has its A1111 name, and back
    const auto a = a1111_sampler_of(id);
    EXPECT_EQ(resolve_a1111_sampler(a.name, a.schedule).id, id) << id;
  }
  EXPECT_EQ(get("/sdapi/v1/progress")["state"]["job_count"], 0);

  // Open WebUI's body (ints, steps, a negative prompt), plus SillyTavern's own url/auth keys and a combined name.
  const auto reply = post("/sdapi/v1/txt2img", R"({"prompt": "a red circle", "negative_prompt": "blurry",
      "batch_size": 2, "width": 64, "height": 64, "steps": 3, "cfg_scale": 5.5, "seed": 7,
      "sampler_name": "DPM++ 2M Karras", "url": "http://127.0.0.1:7860", "auth": ""})", &status);
  ASSERT_EQ(status, 200) << reply.dump();
  ASSERT_EQ(reply["images"].size(), 2u);
  for (const auto& b64 : reply["images"]) {
    const auto path = test::scratch_dir("a1111") + "/a.png";
    write_file_atomic(path, base64_decode(b64.get<std::string>()));
    const auto img = read_image(path);
    EXPECT_EQ(img.width, 64);
    EXPECT_EQ(img.height, 64);
  }
  ASSERT_TRUE(reply["info"].is_string()) << "info is a JSON string, as A1111's Processed.js()";
  const auto info = Json::parse(reply["info"].get<std::string>());
  EXPECT_EQ(info["seed"], 7);
  EXPECT_EQ(info["steps"], 3);
  EXPECT_EQ(info["cfg_scale"], 5.5);
  EXPECT_EQ(info["sampler_name"], "DPM++ 2M");
  EXPECT_EQ(info["extra_generation_params"]["Schedule type"], "Karras");
  EXPECT_EQ(info["sd_model_name"], "tiny-sd15");
  ASSERT_EQ(info["infotexts"].size(), 2u);
  EXPECT_NE(info["infotexts"][0].get<std::string>().find("Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 7"),
            std::string::npos) << info["infotexts"][0];
  EXPECT_EQ(reply["parameters"]["prompt"], "a red circle");
  EXPECT_EQ(reply["parameters"]["seed"], 7);
  EXPECT_FALSE(reply["parameters"].contains("auth")) << "a client's own keys are not echoed";
  // The same seed and settings draw the same pictures; seed -1 is a random one.
  const auto again = post("/sdapi/v1/txt2img", R"({"prompt": "a red circle", "negative_prompt": "blurry",
      "batch_size": 2, "width": 64, "height": 64, "steps": 3, "cfg_scale": 5.5, "seed": 7,
      "sampler_name": "DPM++ 2M", "scheduler": "Karras"})", &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(again["images"], reply["images"]);
  const auto random = post("/sdapi/v1/txt2img", R"({"prompt": "a red circle", "steps": 2, "seed": -1})", &status);
  ASSERT_EQ(status, 200);
  EXPECT_NE(Json::parse(random["info"].get<std::string>())["seed"], -1);
  EXPECT_EQ(Json::parse(random["info"].get<std::string>())["sampler_name"], "Euler") << "A1111's default";
  EXPECT_FALSE(get("/api/gallery").dump().find("a red circle") != std::string::npos)
      << "API images stay out of the web app's gallery";

  for (const char* body : {R"({"prompt": "x", "width": 63})", R"({"prompt": "x", "steps": "many"})",
                           R"({"prompt": "x", "batch_size": 99})", R"({"prompt": 5})", R"([1, 2])",
                           R"({"prompt": "x", "cfg_scale": -1})"}) {
    const auto e = post("/sdapi/v1/txt2img", body, &status);
    EXPECT_EQ(status, 422) << body;
    EXPECT_EQ(e["error"], "ValidationError") << body;
    EXPECT_TRUE(e["detail"].is_string()) << body;
  }
}

TEST_F(HttpApi, CurationKeepsRejectsAndExports) {
  auto list = get("/api/curation");
  ASSERT_EQ(list["candidates"].size(), 2u);
  EXPECT_TRUE(list["candidates"][0]["decision"].is_null());
  int status = 0;
  post("/api/curation/0000", R"({"decision": "keep"})", &status);
  EXPECT_EQ(status, 200);
  post("/api/curation/0001", R"({"decision": "reject"})", &status);
  EXPECT_EQ(status, 200);
  post("/api/curation/0001", R"({"decision": "maybe"})", &status);
  EXPECT_EQ(status, 400);
  post("/api/curation/9999", R"({"decision": "keep"})", &status);
  EXPECT_EQ(status, 404);
  const auto exported = post("/api/curation/export", "", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(exported["written"], 1);
  const auto train = fs::path(env->dir) / "train";
  EXPECT_TRUE(fs::exists(train / "0000.png"));
  EXPECT_EQ(read_file((train / "0000.txt").string()), "prtkl, a bird\n");
  EXPECT_FALSE(fs::exists(train / "0001.png"));
  EXPECT_EQ(read_file((train / "metadata.jsonl").string()), "{\"file_name\":\"0000.png\",\"text\":\"prtkl, a bird\"}\n");
  // Decisions survive a reload.
  Curation reloaded(env->curation->dir(), env->curation->train_dir());
  EXPECT_EQ(reloaded.candidates()[1].decision, "reject");
}

// 100 requests from 20 concurrent clients against a queue of 4: each gets a job (202) or 429, no job is lost
// or duplicated, every accepted job finishes, the server stays up and its memory stays bounded.
TEST_F(HttpApi, LoadBoundedQueue) {
  auto rss_kb = [] {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0L;
  };
  auto round = [&](int base_seed) {
    std::mutex mutex;
    std::vector<std::string> accepted;
    int refused = 0, other = 0, retry_after_ok = 0;
    std::vector<std::thread> clients;
    for (int t = 0; t < 20; ++t) {
      clients.emplace_back([&, t] {
        auto c = client();
        for (int i = 0; i < 5; ++i) {
          const auto body = Json({{"word", "rain"}, {"seed", base_seed + t * 5 + i}}).dump();
          auto res = c.Post("/api/generate", body, "application/json");
          std::lock_guard lock(mutex);
          if (res && res->status == 202) {
            accepted.push_back(Json::parse(res->body)["id"]);
          } else if (res && res->status == 429) {
            ++refused;
            if (std::stoi(res->get_header_value("Retry-After")) >= 1) ++retry_after_ok;
          } else {
            ++other;
            ADD_FAILURE() << "unexpected answer: " << (res ? std::to_string(res->status) + " " + res->body
                                                           : httplib::to_string(res.error()));
          }
        }
      });
    }
    for (auto& c : clients) c.join();
    EXPECT_EQ(other, 0);
    EXPECT_EQ(static_cast<int>(accepted.size()) + refused, 100);
    EXPECT_EQ(retry_after_ok, refused);
    EXPECT_GT(refused, 0) << "a queue of 4 cannot take 100 requests at once";
    EXPECT_EQ(std::set<std::string>(accepted.begin(), accepted.end()).size(), accepted.size()) << "duplicated ids";
    for (const auto& id : accepted) EXPECT_EQ(wait_done(id)["state"], "done") << id;
  };
  round(1000);
  const long after_first = rss_kb();
  round(2000);
  round(3000);
  const long after_third = rss_kb();
  EXPECT_LT(after_third - after_first, 64 * 1024) << "RSS grew from " << after_first << " kB to " << after_third;
  EXPECT_EQ(get("/api/health")["status"], "ok");
}

}  // namespace
}  // namespace prtkl::server
