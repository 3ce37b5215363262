// `prtkl serve` as a process: it prints its URL, answers, stops cleanly on SIGTERM and a second start over the
// same data folder keeps the gallery. Also `prtkl dataset generate`, whose output the curation page reads.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/base64.h"
#include "core/file_util.h"
#include "core/http.h"
#include "core/image.h"
#include "core/json_config.h"
#include "support/cli_process.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// A running `prtkl serve` on any free port.
class ServeProcess : public test::CliProcess {
 public:
  explicit ServeProcess(const std::string& args, const std::string& env = "")
      : CliProcess("serve --port 0 " + args, "listening on http://", env) {}
};

Json get_json(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto res = c.Get(path.c_str());
  if (!res) return {};
  return Json::parse(res->body);
}

// The pixels of the first picture an A1111 txt2img call returns (64x64, 2 steps, seed 3).
std::vector<uint8_t> txt2img_pixels(int port, const std::string& dir) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  auto res = c.Post("/sdapi/v1/txt2img", R"({"prompt": "a red circle", "steps": 2, "seed": 3, "width": 64, "height": 64})",
                    "application/json");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "txt2img: " << (res ? res->body : "no reply");
    return {};
  }
  const auto png = dir + "/txt2img.png";
  write_file_atomic(png, base64_decode(Json::parse(res->body)["images"][0].get<std::string>()));
  return read_image(png).pixels;
}

}  // namespace

TEST(CliServe, ServesStopsAndKeepsTheGalleryAcrossRestarts) {
  const auto dir = test::scratch_dir("serve");
  const auto args = "--model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/data --steps 3 --particles 300";
  std::string id;
  {
    ServeProcess server(args);
    ASSERT_GT(server.port(), 0) << "no 'listening on' line";
    EXPECT_EQ(get_json(server.port(), "/api/health")["status"], "ok");
    httplib::Client c("127.0.0.1", server.port());
    auto res = c.Post("/api/generate", R"({"word": "rain", "seed": 5})", "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
    id = Json::parse(res->body)["id"];
    Json job;
    for (int i = 0; i < 300; ++i) {
      job = get_json(server.port(), "/api/jobs/" + id);
      if (job["state"] == "done") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(job["state"], "done") << job.dump();
    const int status = server.stop();
    EXPECT_TRUE(WIFEXITED(status)) << "ended by a signal instead of stopping";
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  ServeProcess again(args);
  ASSERT_GT(again.port(), 0);
  const auto gallery = get_json(again.port(), "/api/gallery");
  ASSERT_EQ(gallery["items"].size(), 1u);
  EXPECT_EQ(gallery["items"][0]["id"], id);
  httplib::Client c("127.0.0.1", again.port());
  auto res = c.Post("/api/generate", R"({"word": "rain", "seed": 5})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << "served from the store";
}

TEST(CliServe, PortInUseIsAOneLineError) {
  const auto dir = test::scratch_dir("serve_port");
  ServeProcess first("--model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/a");
  ASSERT_GT(first.port(), 0);
  const auto r = test::run_command(test::prtkl_binary() + " serve --model " + test::fixture_path("tiny-sd15") +
                                   " --data " + dir + "/b --port " + std::to_string(first.port()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot bind"), std::string::npos) << r.output;
}

// A server other machines can reach does not start without an access token, and with one it refuses calls that
// lack it.
TEST(CliServe, NetworkHostNeedsAToken) {
  const auto dir = test::scratch_dir("serve_token");
  const auto args = " --model " + test::fixture_path("tiny-sd15") + " --data " + dir + " --host 0.0.0.0";
  const auto r = test::run_command("env -u PRTKL_TOKEN " + test::prtkl_binary() + " serve --port 0" + args);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("set an access token (--token or PRTKL_TOKEN)"), std::string::npos) << r.output;

  ServeProcess server(args + " --token s3cret-0123456789abcdef");
  ASSERT_GT(server.port(), 0) << "no 'listening on' line";
  httplib::Client c("127.0.0.1", server.port());
  auto without = c.Get("/api/gallery");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 401);
  auto with = c.Get("/api/gallery", {{"Authorization", "Bearer s3cret-0123456789abcdef"}});
  ASSERT_TRUE(with);
  EXPECT_EQ(with->status, 200) << with->body;
}

// With --redis the front end draws nothing: a drawing flag there would be ignored, so it is an error.
TEST(CliServe, DrawingFlagsWithRedisBelongOnTheWorker) {
  const auto dir = test::scratch_dir("serve_redis_flags");
  const auto r = test::run_command(test::prtkl_binary() + " serve --port 0 --data " + dir +
                                   " --redis redis://127.0.0.1:1 --lora style.safetensors");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--lora with --redis belongs on `prtkl worker`"), std::string::npos) << r.output;
}

// AUTOMATIC1111 clients pick a checkpoint from GET /sdapi/v1/sd-models and post it back in the options: the
// server then draws with that model from the models folder; an unknown one is a 500 (as A1111 answers) and
// changes nothing. The model the server started with stays listed after a switch, so clients can switch back.
TEST(CliServe, A1111OptionsSwitchAmongTheModelsFolder) {
  const auto dir = test::scratch_dir("serve_switch");
  fs::create_directories(dir + "/models");
  fs::create_symlink(test::fixture_path("tiny-sdxl"), dir + "/models/tiny-sdxl");
  ServeProcess server("--threads 1 --model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/data",
                      "PRTKL_MODELS=" + dir + "/models");
  ASSERT_GT(server.port(), 0) << "no 'listening on' line";
  const auto models = get_json(server.port(), "/sdapi/v1/sd-models");
  ASSERT_EQ(models.size(), 2u) << models.dump();
  EXPECT_EQ(models[0]["title"], "tiny-sd15");
  EXPECT_EQ(models[1]["title"], "tiny-sdxl");
  const auto before = txt2img_pixels(server.port(), dir);

  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(120, 0);
  auto options = get_json(server.port(), "/sdapi/v1/options");
  options["sd_model_checkpoint"] = "tiny-sdxl";
  auto res = c.Post("/sdapi/v1/options", options.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(get_json(server.port(), "/sdapi/v1/options")["sd_model_checkpoint"], "tiny-sdxl");
  EXPECT_EQ(get_json(server.port(), "/api/health")["model"], "tiny-sdxl");
  const auto now_listed = get_json(server.port(), "/sdapi/v1/sd-models");
  ASSERT_EQ(now_listed.size(), 2u) << now_listed.dump();
  EXPECT_EQ(now_listed[0]["title"], "tiny-sdxl");
  EXPECT_EQ(now_listed[1]["title"], "tiny-sd15");
  const auto after = txt2img_pixels(server.port(), dir);
  EXPECT_TRUE(!after.empty() && after != before) << "the switched-to model drew the same picture";

  options["sd_model_checkpoint"] = "no-such-model";
  res = c.Post("/sdapi/v1/options", options.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500) << res->body;
  EXPECT_EQ(get_json(server.port(), "/api/health")["model"], "tiny-sdxl");

  options["sd_model_checkpoint"] = "tiny-sd15";  // back to the first: the same pictures as before
  res = c.Post("/sdapi/v1/options", options.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(txt2img_pixels(server.port(), dir) == before);
}

// The switch loads only what GET /sdapi/v1/sd-models lists (issue 41): a path to a model that exists, one that does
// not, one that cannot be read and a name that is not a string all get the same answer, and the model stays.
TEST(CliServe, A1111OptionsSwitchOnlyToListedModels) {
  const auto dir = test::scratch_dir("serve_switch_listed");
  fs::create_directories(dir + "/models");
  fs::create_directories(dir + "/locked/model");
  std::ofstream(dir + "/locked/model/model_index.json") << "{}";
  fs::permissions(dir + "/locked", fs::perms::none);
  ServeProcess server("--threads 1 --model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/data",
                      "PRTKL_MODELS=" + dir + "/models");
  ASSERT_GT(server.port(), 0) << "no 'listening on' line";
  const auto listed = get_json(server.port(), "/sdapi/v1/sd-models");
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(120, 0);
  std::string first_answer;
  for (const Json& wanted : {Json(test::fixture_path("tiny-sdxl")), Json("../../shared/fixtures/tiny-sdxl"),
                             Json(dir + "/no-such-model"), Json(dir + "/locked/model"), Json("no-such-name"), Json(7),
                             Json::array({"tiny-sdxl"})}) {
    auto res = c.Post("/sdapi/v1/options", Json({{"sd_model_checkpoint", wanted}}).dump(), "application/json");
    ASSERT_TRUE(res);
    const auto answer = std::to_string(res->status) + " " + res->body;
    EXPECT_EQ(res->status, 500) << wanted.dump() << ": " << answer;  // A1111's status for an unknown checkpoint
    if (first_answer.empty()) first_answer = answer;
    EXPECT_EQ(answer, first_answer) << wanted.dump() << ": every refusal answers alike";
    EXPECT_EQ(get_json(server.port(), "/api/health")["model"], "tiny-sd15") << wanted.dump();
  }
  fs::permissions(dir + "/locked", fs::perms::owner_all);
}

// docs/api.md names only flags that `prtkl serve` has (it named --max-image-side and --max-images, which it never
// had); a line about another command (`prtkl train …`) names that command's.
TEST(CliServe, EveryFlagTheApiDocsNameExists) {
  const auto help = test::run_command(test::prtkl_binary() + " serve --help");
  ASSERT_EQ(help.code, 0) << help.output;
  std::ifstream doc(test::source_dir() + "/docs/api.md");
  ASSERT_TRUE(doc) << "docs/api.md";
  const std::regex flag("--[a-z][a-z-]*[a-z]");
  int checked = 0;
  for (std::string line; std::getline(doc, line);) {
    if (line.find("prtkl train") != std::string::npos || line.find("prtkl worker") != std::string::npos) continue;
    for (std::sregex_iterator it(line.begin(), line.end(), flag), end; it != end; ++it, ++checked)
      EXPECT_NE(help.output.find(it->str() + " "), std::string::npos) << it->str() << " in: " << line;
  }
  EXPECT_GT(checked, 10);
}

// Every route docs/api.md names ("`GET /api/health`", "`POST /api/curation/{id}`") is one the server has: asked with
// placeholder ids and an empty JSON body, it may refuse the request, but not as an unknown route (the static files'
// 404 "not found", or httplib's bare 404).
bool unknown_route(const httplib::Response& res) {
  return res.status == 404 && (res.body.empty() || res.body.find("\"not found\"") != std::string::npos);
}

TEST(CliServe, EveryRouteTheApiDocsNameExists) {
  const auto dir = test::scratch_dir("serve_routes");
  ServeProcess server("--model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/data --steps 1 --particles 100");
  ASSERT_GT(server.port(), 0);
  std::ifstream doc(test::source_dir() + "/docs/api.md");
  ASSERT_TRUE(doc) << "docs/api.md";
  const std::regex route("`(GET|POST|HEAD) (/[^` ?]*)[^`]*`");
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  std::set<std::string> checked;
  for (std::string line; std::getline(doc, line);)
    for (std::sregex_iterator it(line.begin(), line.end(), route), end; it != end; ++it) {
      const auto method = (*it)[1].str();
      const auto path = std::regex_replace((*it)[2].str(), std::regex("\\{[a-z_]+\\}"), "j_0123456789abcdef");
      if (!checked.insert(method + " " + path).second) continue;
      const auto res = method == "GET"    ? c.Get(path.c_str())
                       : method == "HEAD" ? c.Head(path.c_str())
                                          : c.Post(path.c_str(), "{}", "application/json");
      ASSERT_TRUE(res) << method << " " << path << ": no answer";
      EXPECT_FALSE(unknown_route(*res)) << method << " " << path << " (docs/api.md) is no route of the server: " << res->body;
    }
  EXPECT_GE(checked.size(), 15u);
  // The check itself: routes that do not exist read as unknown.
  const auto get = c.Get("/api/no-such-route"), post = c.Post("/api/no-such-route", "{}", "application/json");
  ASSERT_TRUE(get && post);
  EXPECT_TRUE(unknown_route(*get)) << get->status << " " << get->body;
  EXPECT_TRUE(unknown_route(*post)) << post->status << " " << post->body;
}

TEST(CliDataset, GenerateWritesCandidatesForCuration) {
  const auto dir = test::scratch_dir("dataset");
  std::ofstream(dir + "/prompts.txt") << "# comment\na bird\n\na tree\n";
  const auto r = test::run_command(test::prtkl_binary() + " dataset generate --model " +
                                   test::fixture_path("tiny-sd15") + " --prompts " + dir + "/prompts.txt --out " + dir +
                                   "/cand --variations 2 --steps 2 --caption-prefix prtkl");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream list(dir + "/cand/candidates.jsonl");
  std::vector<Json> lines;
  for (std::string line; std::getline(list, line);) lines.push_back(Json::parse(line));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["text"], "prtkl, a bird");
  EXPECT_EQ(lines[3]["text"], "prtkl, a tree");
  EXPECT_NE(lines[0]["seed"], lines[1]["seed"]) << "variations differ by seed";
  for (const auto& l : lines) EXPECT_TRUE(fs::exists(dir + "/cand/" + l["file_name"].get<std::string>()));
  const auto bad = test::run_command(test::prtkl_binary() + " dataset generate --model " +
                                     test::fixture_path("tiny-sd15") + " --prompts " + dir + "/missing.txt --out " + dir +
                                     "/x");
  EXPECT_EQ(bad.code, 2) << bad.output;
}

// --lora, --embeddings and --queue reach the server: the model id it reports names the adapters (with the LoRA's
// scale), the queue has the capacity asked for, and the LoRA changes what the server draws (the same request to a
// server without it gives other pixels; to the same server, the same ones).
TEST(CliServe, AdapterAndQueueFlags) {
  const auto dir = test::scratch_dir("serve_flags");
  const auto adapters = test::fixture_path("tiny-sdxl/adapters/");
  ServeProcess server("--threads 1 --model " + test::fixture_path("tiny-sdxl") + " --data " + dir + " --queue 3 --lora " +
                      adapters + "lora_te_kohya.safetensors:0.7 --embeddings " + adapters + "prtkl_emb.safetensors");
  ASSERT_GT(server.port(), 0) << "no 'listening on' line";
  const auto health = get_json(server.port(), "/api/health");
  EXPECT_EQ(health["model"], "tiny-sdxl+prtkl_emb+lora_te_kohya@0.7") << health.dump();
  EXPECT_EQ(health["queue"]["capacity"], 3) << health.dump();
  const auto styled = txt2img_pixels(server.port(), dir);
  ASSERT_FALSE(styled.empty());
  EXPECT_TRUE(txt2img_pixels(server.port(), dir) == styled) << "the same request drew differently";
  server.stop();
  ServeProcess plain("--threads 1 --model " + test::fixture_path("tiny-sdxl") + " --data " + dir + "/plain --embeddings " +
                     adapters + "prtkl_emb.safetensors");
  ASSERT_GT(plain.port(), 0) << "no 'listening on' line";
  const auto unstyled = txt2img_pixels(plain.port(), dir);
  ASSERT_EQ(unstyled.size(), styled.size());
  EXPECT_TRUE(unstyled != styled) << "--lora did not change the picture";
}
