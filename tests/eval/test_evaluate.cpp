// `prtkl eval` end to end on the tiny fixture model: a fake emoji inventory of two concepts (one with skin tones,
// so some pictures are held out), two images of two steps each, and the README / eval.json it writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "diffusion/model_loader.h"
#include "eval/evaluate.h"
#include "shapes.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// concepts.json, eval-set.txt and node_modules/ with the two npm styles under `dir`.
void write_inventory(const std::string& dir, const std::string& eval_set) {
  const fs::path npm = fs::path(dir) / "node_modules";
  std::mt19937 rng(7);
  for (const auto* style : {"google", "twitter"}) {
    const auto pictures = npm / (std::string("emoji-datasource-") + style) / "img" / style / "64";
    fs::create_directories(pictures);
    write_png((pictures / "aaa.png").string(), test::shape_picture(0, rng));
    for (const auto* stem : {"bbb", "bbb-1f3fb", "bbb-1f3fc", "bbb-1f3fd"})
      write_png((pictures / (std::string(stem) + ".png")).string(), test::shape_picture(1, rng));
  }
  const Json tones = {{"1F3FB", {{"image", "bbb-1f3fb.png"}}},
                      {"1F3FC", {{"image", "bbb-1f3fc.png"}}},
                      {"1F3FD", {{"image", "bbb-1f3fd.png"}}}};
  const Json sheet = Json::array({{{"image", "aaa.png"}}, {{"image", "bbb.png"}, {"skin_variations", tones}}});
  write_file_atomic((npm / "emoji-datasource-google" / "emoji.json").string(), sheet.dump());
  const Json concepts = {
      {"concepts",
       {{{"id", "red-disc"}, {"caption", "red disc"}, {"images", {"images/aaa-google.png", "images/aaa-twitter.png"}}},
        {{"id", "blue-square"},
         {"caption", "blue square"},
         {"images",
          {"images/bbb-google.png", "images/bbb-1f3fb-google.png", "images/bbb-twitter.png",
           "images/bbb-1f3fc-twitter.png"}}}}}};
  write_file_atomic(dir + "/concepts.json", concepts.dump());
  write_file_atomic(dir + "/eval-set.txt", eval_set);
}

EvalOptions options(const std::string& dir) {
  EvalOptions o;
  o.model = test::fixture_path("tiny-sd15");
  o.concepts = dir + "/concepts.json";
  o.eval_set = dir + "/eval-set.txt";
  o.npm = dir + "/node_modules";
  o.work = dir + "/work";
  o.out = dir + "/out";
  o.samples = 2;
  o.steps = 2;
  o.judge.widths = {8, 16, 16, 16};
  o.judge.steps = 5;
  o.judge.batch_size = 8;
  o.style_judge_options.judge = o.judge;
  o.command = "prtkl eval (test)";
  return o;
}

}  // namespace

TEST(Eval, ConceptsGetAllTheirPicturesAndHeldOutTones) {
  const auto dir = test::scratch_dir("inventory");
  write_inventory(dir, "# two concepts\nred-disc\n\nblue-square  # with skin tones\n");
  const auto concepts = load_eval_concepts(dir + "/concepts.json", dir + "/eval-set.txt", dir + "/node_modules", 0);
  ASSERT_EQ(concepts.size(), 2u);
  EXPECT_EQ(concepts[0].id, "red-disc");
  EXPECT_EQ(concepts[0].caption, "red disc");
  EXPECT_EQ(concepts[0].train_images.size(), 2u);  // both styles
  EXPECT_TRUE(concepts[0].held_out_images.empty());
  // Tones 1f3fb and 1f3fc are in the dataset: 1f3fd, the one unused tone, is held out in both styles.
  ASSERT_EQ(concepts[1].held_out_images.size(), 2u);
  EXPECT_NE(concepts[1].held_out_images[0].find("bbb-1f3fd.png"), std::string::npos);
  EXPECT_EQ(concepts[1].train_images.size(), 6u);
  // The pictures are read once, in the order of the files, composited onto white.
  ASSERT_EQ(concepts[1].train_pictures.sizes(), (std::vector<int64_t>{6, 3, 64, 64}));
  EXPECT_EQ(concepts[1].held_out_pictures.size(0), 2);
  EXPECT_TRUE(torch::equal(concepts[0].train_pictures[1], image_tensor(read_image(concepts[0].train_images[1]))));
}

TEST(Eval, UnknownConceptIdIsAnErrorNamingItsLine) {
  const auto dir = test::scratch_dir("unknown");
  write_inventory(dir, "red-disc\nno-such-concept\n");
  try {
    load_eval_concepts(dir + "/concepts.json", dir + "/eval-set.txt", dir + "/node_modules", 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("eval-set.txt line 2: unknown concept id 'no-such-concept'"), std::string::npos) << what;
  }
  write_inventory(dir, "red-disc\nred-disc\n");
  EXPECT_THROW(load_eval_concepts(dir + "/concepts.json", dir + "/eval-set.txt", dir + "/node_modules", 0), Error);
}

TEST(Eval, TinyModelEndToEnd) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("run");
  write_inventory(dir, "red-disc\nblue-square\n");
  const auto o = options(dir);
  const auto r = run_eval(o);
  ASSERT_EQ(r.concepts.size(), 2u);
  EXPECT_FALSE(r.judge.reused);
  EXPECT_EQ(r.judge.train_images, 8);
  EXPECT_EQ(r.judge.held_out_images, 2);
  for (const auto& c : r.concepts) EXPECT_EQ(c.total, 2);
  EXPECT_FALSE(r.reason.empty());

  const auto json = read_json_file(o.out + "/eval.json");
  for (const auto* key : {"accuracy", "pass", "reason", "gate", "judge", "concepts", "command", "settings"})
    EXPECT_TRUE(json.contains(key)) << key;
  EXPECT_EQ(json.at("concepts").size(), 2u);
  EXPECT_EQ(json.at("concepts")[1].at("id"), "blue-square");
  EXPECT_TRUE(json.at("judge").contains("held_out_accuracy"));
  EXPECT_EQ(json.at("settings").at("steps"), 2);
  const auto md = read_file(o.out + "/README.md");
  EXPECT_NE(md.find(r.pass ? "**PASS**" : "**FAIL**"), std::string::npos);
  EXPECT_NE(md.find("prtkl eval (test)"), std::string::npos);
  EXPECT_NE(md.find("| red-disc | red disc |"), std::string::npos);
  const auto sheet = read_image(o.out + "/samples.png");
  EXPECT_GT(sheet.width, 2 * kJudgeSize);
  EXPECT_TRUE(fs::exists(o.work + "/generations/blue-square.png"));
  // The style judge labels every picture with a look of the two npm styles, and the shares are reported.
  EXPECT_EQ(r.looks, (std::vector<std::string>{"glossy", "flat"}));
  EXPECT_EQ(r.concepts[0].looks.size(), 2u);
  EXPECT_EQ(r.concepts[0].looks[0] + r.concepts[0].looks[1], 2);
  EXPECT_NEAR(r.all.look_shares[0] + r.all.look_shares[1], 1.0, 1e-9);
  EXPECT_TRUE(json.contains("look_shares"));
  EXPECT_NE(md.find("style judge's looks"), std::string::npos);

  // Each image's particle set, drawn as discs and judged: a count of renders per concept, an SSIM per image, the
  // group's figures in range, and the renders beside the generations.
  for (const auto& c : r.concepts) {
    EXPECT_GE(c.render_correct, 0);
    EXPECT_LE(c.render_correct, c.total);
    EXPECT_LE(c.render_lost, c.correct);
    ASSERT_EQ(c.set_ssims.size(), 2u);
    for (const double ssim : c.set_ssims) EXPECT_TRUE(ssim > 0 && ssim <= 1) << ssim;
  }
  EXPECT_GT(r.all.set_ssim_median, 0);
  EXPECT_LE(r.all.set_ssim_median, 1);
  EXPECT_GE(r.all.render_ratio(), 0);
  EXPECT_GE(r.particle_seconds, 0);
  const auto& sets = json.at("particle_sets");
  for (const auto* key : {"count", "render_accuracy", "render_ratio", "render_lost", "set_ssim_median", "seconds"})
    EXPECT_TRUE(sets.contains(key)) << key;
  EXPECT_EQ(sets.at("count"), 8000);
  EXPECT_EQ(json.at("concepts")[0].at("set_ssims").size(), 2u);
  EXPECT_NE(md.find("particle set drawn as discs"), std::string::npos);
  const auto renders = read_image(o.work + "/particle_renders/red-disc.png");  // at the images' size
  const auto generations = read_image(o.work + "/generations/red-disc.png");
  EXPECT_EQ(renders.width, generations.width);
  EXPECT_EQ(renders.height, generations.height);

  // The autoencoder round trip: every real training picture once (both styles; blue-square with its tones), and
  // its strip pairs each picture with the fixture VAE's decode of its posterior mean.
  EXPECT_EQ(r.concepts[0].round_trip_total, 2);
  EXPECT_EQ(r.concepts[1].round_trip_total, 6);
  EXPECT_EQ(json.at("concepts")[1].at("round_trip_total"), 6);
  EXPECT_TRUE(json.contains("round_trip_accuracy"));
  // The style judge on the same round trips, each picture against its own package's look.
  for (const auto& c : load_eval_concepts(o.concepts, o.eval_set, o.npm, o.judge.seed)) {
    ASSERT_EQ(c.train_looks.size(), c.train_images.size()) << c.id;
    for (size_t k = 0; k < c.train_images.size(); ++k)
      EXPECT_EQ(c.train_looks[k], c.train_images[k].find("/img/google/") != std::string::npos ? "glossy" : "flat");
  }
  ASSERT_EQ(r.round_trip_look_accuracy.size(), r.looks.size());
  for (const double share : r.round_trip_look_accuracy) EXPECT_TRUE(share >= 0 && share <= 1) << share;
  EXPECT_EQ(json.at("round_trip_look_accuracy").size(), r.looks.size());
  EXPECT_LE(r.concepts[1].round_trip_looks_correct, 6);
  EXPECT_NE(md.find("named in their own look"), std::string::npos);
  EXPECT_NE(md.find("| " + std::to_string(r.concepts[0].round_trip_correct) + " / 2 |"), std::string::npos) << md;
  const auto strip = image_tensor(read_image(o.work + "/round_trip/red-disc.png"));
  ASSERT_EQ(strip.size(2), 2 * 2 * kJudgeSize);  // two pictures, each beside its round trip
  {
    torch::NoGradGuard no_grad;
    auto model = load_model(o.model);
    const auto real = image_tensor(read_image(o.npm + "/emoji-datasource-google/img/google/64/aaa.png"));
    const auto decoded = model.vae->decode(model.vae->encode((real * 2 - 1).unsqueeze(0)).mean).clamp(-1, 1);
    const auto expected = ((decoded[0] + 1) / 2);
    EXPECT_LE((strip.slice(2, 0, kJudgeSize) - real).abs().max().item<double>(), 0.5 / 255 + 1e-6);
    EXPECT_LE((strip.slice(2, kJudgeSize, 2 * kJudgeSize) - expected).abs().max().item<double>(), 0.5 / 255 + 1e-4);
  }

  // Nothing changed: the judge is reused and judges the same images the same way.
  const auto again = run_eval(o);
  EXPECT_TRUE(again.judge.reused);
  EXPECT_EQ(again.concepts[0].correct, r.concepts[0].correct);
  EXPECT_EQ(again.concepts[1].correct, r.concepts[1].correct);

  // A real picture with other bytes is a different judge (its key hashes every picture).
  std::mt19937 rng(99);
  write_png(o.npm + "/emoji-datasource-twitter/img/twitter/64/bbb-1f3fd.png", test::shape_picture(0, rng));
  EXPECT_FALSE(run_eval(o).judge.reused);
}

// A style under test: its adapters and prompt template, the target look in the gate, held-out concepts reported
// apart; a target look the style judge does not know is an error before anything is drawn.
TEST(Eval, StyleTargetLookAndHeldOutConcepts) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("style");
  write_inventory(dir, "red-disc\nblue-square\n");
  write_file_atomic(dir + "/held-out.txt", "blue-square\n");
  auto o = options(dir);
  o.samples = 1;
  o.held_out_set = dir + "/held-out.txt";
  o.target_style = "flat";
  o.min_style_share = 1.01;  // unreachable: the gate must name the look
  o.loras = {test::fixture_path("tiny-sd15/adapters/lora_unet_peft.safetensors")};
  o.embeddings = {test::fixture_path("tiny-sd15/adapters/prtkl_emb.safetensors")};
  o.prompt_template = "<s0><s1> {prompt}";
  const auto r = run_eval(o);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.reason.find("flat <"), std::string::npos) << r.reason;
  EXPECT_NE(r.adapters.find("prtkl_emb"), std::string::npos) << r.adapters;
  EXPECT_EQ(r.held_out.concepts, 1);
  EXPECT_TRUE(r.concepts[1].held_out);
  EXPECT_FALSE(r.concepts[0].held_out);
  const auto json = read_json_file(o.out + "/eval.json");
  EXPECT_EQ(json.at("held_out").at("concepts"), 1);
  EXPECT_EQ(json.at("prompt_template"), "<s0><s1> {prompt}");

  o.target_style = "sketchy";
  EXPECT_THROW(run_eval(o), Error);
  o.target_style = "flat";
  write_file_atomic(dir + "/held-out.txt", "no-such-concept\n");
  EXPECT_THROW(run_eval(o), Error);
}

// --style-judge-round-trip: the style judge also learns the real pictures after the model's autoencoder, reports its
// accuracy on the held-out pictures' round trips, and is cached under its own key (a plain judge in the same file
// is not taken for it, and it is reused while the autoencoder is the same).
TEST(Eval, StyleJudgeLearnsTheAutoencodersRoundTrips) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("style_round_trip");
  write_inventory(dir, "red-disc\n");
  auto o = options(dir);
  o.samples = 1;
  o.steps = 1;
  const auto plain = run_eval(o);
  EXPECT_FALSE(plain.style_judge.reused);
  EXPECT_EQ(plain.style_judge.held_out_round_trip_accuracy, -1);
  o.style_judge_round_trip = true;
  const auto trained = run_eval(o);
  EXPECT_FALSE(trained.style_judge.reused) << "a judge of raw pictures was taken for one of round trips";
  EXPECT_EQ(trained.style_judge.train_images, 2 * plain.style_judge.train_images);
  EXPECT_GE(trained.style_judge.held_out_round_trip_accuracy, 0);
  EXPECT_LE(trained.style_judge.held_out_round_trip_accuracy, 1);
  EXPECT_NE(read_file(o.out + "/README.md").find("it also learnt round trips"), std::string::npos);
  EXPECT_TRUE(run_eval(o).style_judge.reused);
}
