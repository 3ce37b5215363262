// Styles (src/adapters/style.h) as a user meets them: `--style` on generate and serve, the model's default_style,
// the models folder's styles/, a style per request that leaves nothing behind for the next one, and
// `generate --word`. The style folders are made here from the fixtures' LoRA and pivotal embeddings, under the
// names a `prtkl train` run folder gives them.
#include <gtest/gtest.h>

#include <filesystem>

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

const std::string kDraw = " --steps 2 --seed 3 --threads 1 --prompt 'two people hugging'";

// styles/NAME/ as `prtkl train` leaves its files: the fixtures' kohya UNet LoRA and <s0><s1> rows.
std::string make_style(const std::string& root, const std::string& name) {
  const auto dir = root + "/" + name;
  fs::create_directories(dir);
  const auto adapters = test::fixture_path("tiny-sd15/adapters/");
  fs::copy_file(adapters + "lora_unet_kohya.safetensors", dir + "/prtkl.safetensors");
  fs::copy_file(adapters + "prtkl_emb.safetensors", dir + "/prtkl_emb.safetensors");
  return dir;
}

// A writable tiny-sd15 with `styles/NAME/` and a prtkl.json naming it the default.
std::string model_with_style(const std::string& dir, const std::string& style) {
  const auto model = dir + "/tiny-sd15";
  fs::copy(test::fixture_path("tiny-sd15"), model, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(model))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  fs::permissions(model, fs::perms::owner_write, fs::perm_options::add);
  fs::remove_all(model + "/adapters");
  make_style(model + "/styles", style);
  write_file_atomic(model + "/prtkl.json", R"({"default_style": ")" + style + R"("})");
  return model;
}

std::vector<uint8_t> pixels(const std::string& png) { return read_image(png).pixels; }

void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  const auto at = r.output.rfind("prtkl: error:");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto last = r.output.substr(at);
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
  EXPECT_NE(last.find(needle), std::string::npos) << "expected '" << needle << "' in: " << last;
}

}  // namespace

// --style NAME is the style's LoRA and embeddings with the prompt in its template, nothing more: the same pixels
// as the explicit flags. The model's default_style applies without the flag; --style none turns it off.
TEST(CliStyle, GenerateStyleIsItsAdaptersAndTemplate) {
  const auto dir = test::scratch_dir("style_generate");
  const auto model = model_with_style(dir, "flat");
  const auto style = model + "/styles/flat/";
  const auto gen = "generate --model " + model + kDraw + " --out " + dir;
  ASSERT_EQ(test::run_prtkl(gen + "/named.png --style flat").code, 0);
  auto explicit_run = test::run_prtkl("generate --model " + model +
                                " --steps 2 --seed 3 --threads 1 --prompt '<s0><s1>, two people hugging' --style none"
                                " --lora " +
                                style + "prtkl.safetensors --embeddings " + style + "prtkl_emb.safetensors --out " +
                                dir + "/explicit.png");
  ASSERT_EQ(explicit_run.code, 0) << explicit_run.output;
  auto by_default = test::run_prtkl(gen + "/default.png");
  ASSERT_EQ(by_default.code, 0) << by_default.output;
  auto without = test::run_prtkl(gen + "/none.png --style none");
  ASSERT_EQ(without.code, 0) << without.output;
  const auto plain = "generate --model " + test::fixture_path("tiny-sd15") + kDraw + " --out " + dir + "/plain.png";
  auto plain_run = test::run_prtkl(plain);
  ASSERT_EQ(plain_run.code, 0) << plain_run.output;

  EXPECT_EQ(pixels(dir + "/named.png"), pixels(dir + "/explicit.png"));
  EXPECT_EQ(pixels(dir + "/default.png"), pixels(dir + "/named.png")) << "default_style applies with no flag";
  EXPECT_EQ(pixels(dir + "/none.png"), pixels(dir + "/plain.png")) << "--style none is the model without adapters";
  EXPECT_NE(pixels(dir + "/named.png"), pixels(dir + "/plain.png"));
  EXPECT_EQ(read_png_text(dir + "/default.png").at("parameters").rfind("<s0><s1>, two people hugging\n", 0), 0u)
      << "the trigger tokens are in the prompt the user did not type";
  // A path to a style folder works as well as a name.
  ASSERT_EQ(test::run_prtkl(gen + "/path.png --style " + style).code, 0);
  EXPECT_EQ(pixels(dir + "/path.png"), pixels(dir + "/named.png"));
}

// A user's style in the models folder is found by name; an unknown name is one line naming it and the known ones,
// before any model loads.
TEST(CliStyle, ModelsFolderStylesAndUnknownNames) {
  const auto dir = test::scratch_dir("style_models_folder");
  make_style(dir + "/models/styles", "mine");
  const auto env = "PRTKL_MODELS=" + dir + "/models";
  const auto gen = "generate --model " + test::fixture_path("tiny-sd15") + kDraw + " --out " + dir;
  auto mine = test::run_prtkl(gen + "/mine.png --style mine", env);
  ASSERT_EQ(mine.code, 0) << mine.output;
  ASSERT_EQ(test::run_prtkl(gen + "/plain.png").code, 0);
  EXPECT_NE(pixels(dir + "/mine.png"), pixels(dir + "/plain.png"));

  expect_one_line_error(test::run_prtkl(gen + "/x.png --style glossy", env), "unknown style 'glossy' (known: none, mine)");
  expect_one_line_error(
      test::run_prtkl("serve --port 0 --data " + dir + "/data --model " + test::fixture_path("tiny-sd15") + " --style glossy",
                env),
      "unknown style 'glossy'");
  fs::remove(dir + "/models/styles/mine/prtkl_emb.safetensors");
  expect_one_line_error(test::run_prtkl(gen + "/x.png --style mine", env), "prtkl_emb.safetensors not found");
}

// `generate --word` runs the page's path: the word interpreted for the model, the style around its prompt, the
// picture, and with --particles the particle set the page would assemble.
TEST(CliStyle, GenerateWordInAStyleWithParticles) {
  const auto dir = test::scratch_dir("style_word");
  const auto model = model_with_style(dir, "flat");
  auto r = test::run_prtkl("generate --model " + model + " --word love --steps 2 --seed 3 --threads 1 --out " + dir +
                     "/love.png --particles " + dir + "/love.bin");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto parameters = read_png_text(dir + "/love.png").at("parameters");
  EXPECT_EQ(parameters.rfind("<s0><s1>, two people hugging, simple composition, plain white background\n", 0), 0u)
      << parameters;
  EXPECT_GT(fs::file_size(dir + "/love.bin"), 16u);
  expect_one_line_error(test::run_prtkl("generate --model " + model + " --out " + dir + "/x.png"), "--prompt TEXT or --word");
}

namespace {

class ServeProcess : public test::CliProcess {
 public:
  ServeProcess(const std::string& args, const std::string& env)
      : CliProcess("serve --port 0 " + args, "listening on http://", env) {}
};

Json get_json(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto res = c.Get(path.c_str());
  return res ? Json::parse(res->body) : Json();
}

// The first picture of an A1111 txt2img call with `styles` (seed fixed).
std::vector<uint8_t> txt2img(int port, const std::string& styles, const std::string& png) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  const auto body = R"({"prompt": "a red circle", "steps": 2, "seed": 3, "styles": )" + styles + "}";
  auto res = c.Post("/sdapi/v1/txt2img", body, "application/json");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "txt2img " << styles << ": " << (res ? res->body : "no reply");
    return {};
  }
  write_file_atomic(png, base64_decode(Json::parse(res->body)["images"][0].get<std::string>()));
  return pixels(png);
}

}  // namespace

// One served model, a style per request: switching to a style and back draws the same pixels as before (its LoRA
// leaves nothing behind), the style's are those of `generate --style`, and the APIs name the styles.
TEST(CliStyle, ServeSwitchesStylePerRequestWithoutLeaking) {
  const auto dir = test::scratch_dir("style_serve");
  make_style(dir + "/models/styles", "mine");
  ServeProcess server("--threads 1 --model " + test::fixture_path("tiny-sd15") + " --data " + dir + "/data",
                      "PRTKL_MODELS=" + dir + "/models");
  ASSERT_GT(server.port(), 0) << "no 'listening on' line";

  const auto styles = get_json(server.port(), "/api/styles");
  ASSERT_EQ(styles["styles"].size(), 1u) << styles.dump();
  EXPECT_EQ(styles["styles"][0]["name"], "mine");
  EXPECT_EQ(styles["default"], "none");
  const auto health = get_json(server.port(), "/api/health");
  EXPECT_EQ(health["style"], "none");
  EXPECT_EQ(health["styles"], Json::array({"none", "mine"}));

  const auto before = txt2img(server.port(), "[]", dir + "/before.png");
  const auto styled = txt2img(server.port(), R"(["not-a-prtkl-style", "mine"])", dir + "/styled.png");
  const auto after = txt2img(server.port(), R"(["none"])", dir + "/after.png");
  ASSERT_FALSE(before.empty());
  EXPECT_NE(styled, before);
  EXPECT_EQ(after, before) << "the style's LoRA leaked into the next request";
  const auto again = txt2img(server.port(), R"(["mine"])", dir + "/again.png");
  EXPECT_EQ(again, styled) << "a style comes back exactly";

  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(120, 0);
  auto unknown = c.Post("/api/generate", R"({"word": "rain", "style": "glossy"})", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("unknown style 'glossy' (known: none, mine)"), std::string::npos) << unknown->body;
  auto openai = c.Post("/v1/images/generations", R"({"prompt": "a cat", "style": "glossy"})", "application/json");
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->status, 400) << openai->body;

  auto word = c.Post("/api/generate", R"({"word": "rain", "seed": 5, "style": "mine"})", "application/json");
  ASSERT_TRUE(word);
  ASSERT_EQ(word->status, 202) << word->body;
  const auto id = Json::parse(word->body)["id"].get<std::string>();
  Json job = Json::object();
  for (int i = 0; i < 600 && job.value("state", "") != "done" && job.value("state", "") != "error"; ++i) {
    job = get_json(server.port(), "/api/jobs/" + id);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job["state"], "done") << job.dump();
  EXPECT_EQ(job["style"], "mine");
  EXPECT_EQ(job["prompt"].get<std::string>().rfind("<s0><s1>, ", 0), 0u) << job.dump();
  // The same word and seed in another style is another picture, not the cached one.
  auto plain = c.Post("/api/generate", R"({"word": "rain", "seed": 5})", "application/json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 202) << plain->body;
  auto cached = c.Post("/api/generate", R"({"word": "rain", "seed": 5, "style": "mine"})", "application/json");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 200) << "the styled picture is answered from the store";
}
