// The emoji training-set builder on a small npm folder of the real packages' shape, made here: drawable emoji
// become concepts with both styles (and one skin tone) composited on white, flags/keycaps/clock faces are left
// out, captions come from CLDR names and keywords, other languages' keywords reach the inventory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "data/emoji_dataset.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// A 64x64 RGBA picture: a coloured disc on transparency.
void write_emoji_png(const fs::path& path, uint8_t r, uint8_t g, uint8_t b) {
  Image img{64, 64, 4, std::vector<uint8_t>(64 * 64 * 4, 0)};
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      if ((x - 32) * (x - 32) + (y - 32) * (y - 32) < 400) {
        auto* p = &img.pixels[(y * 64 + x) * 4];
        p[0] = r, p[1] = g, p[2] = b, p[3] = 255;
      }
  fs::create_directories(path.parent_path());
  write_png(path.string(), img);
}

std::string make_npm(const std::string& root) {
  const fs::path npm = fs::path(root) / "node_modules";
  Json sheet = Json::array();
  auto entry = [](const char* unified, const char* image, const char* category, const char* sub) {
    return Json{{"unified", unified}, {"image", image}, {"category", category}, {"subcategory", sub},
                {"has_img_google", true}, {"has_img_twitter", true}};
  };
  sheet.push_back(entry("1F431", "1f431.png", "Animals & Nature", "animal-mammal"));
  auto wave = entry("1F44B", "1f44b.png", "People & Body", "hand-fingers-open");
  wave["skin_variations"] = {{"1F3FB", {{"image", "1f44b-1f3fb.png"}}}, {"1F3FF", {{"image", "1f44b-1f3ff.png"}}}};
  sheet.push_back(wave);
  sheet.push_back(entry("2603-FE0F", "2603-fe0f.png", "Travel & Places", "sky & weather"));
  sheet.push_back(entry("1F1EA-1F1EC", "1f1ea-1f1ec.png", "Flags", "country-flag"));
  sheet.push_back(entry("1F550", "1f550.png", "Travel & Places", "time"));
  sheet.push_back(entry("0031-FE0F-20E3", "0031-fe0f-20e3.png", "Symbols", "keycap"));
  sheet.push_back(entry("1F939-200D-2642-FE0F", "1f939-200d-2642-fe0f.png", "People & Body", "person-sport"));
  sheet.push_back(entry("1F46A", "1f46a.png", "People & Body", "family"));
  for (const char* style : {"google", "twitter"}) {
    const auto pkg = npm / (std::string("emoji-datasource-") + style);
    fs::create_directories(pkg);
    write_file_atomic((pkg / "emoji.json").string(), sheet.dump());
    uint8_t shade = style[0] == 'g' ? 200 : 100;
    for (const char* f : {"1f431.png", "1f44b.png", "1f44b-1f3fb.png", "1f44b-1f3ff.png", "2603-fe0f.png",
                          "1f1ea-1f1ec.png", "1f550.png", "0031-fe0f-20e3.png", "1f939-200d-2642-fe0f.png", "1f46a.png"})
      write_emoji_png(pkg / "img" / style / "64" / f, shade, 50, 20);
  }
  Json en = Json::array({{{"hexcode", "1F431"}, {"label", "cat face"}, {"tags", {"cat", "face", "pet"}}, {"emoji", "🐱"}},
                         {{"hexcode", "1F44B"}, {"label", "waving hand"}, {"tags", {"hand", "wave", "hello"}}},
                         {{"hexcode", "2603-FE0F"}, {"label", "snowman"}, {"tags", {"cold", "snow", "winter"}}},
                         {{"hexcode", "1F1EA-1F1EC"}, {"label", "flag: Egypt"}, {"tags", {"flag"}}},
                         {{"hexcode", "1F550"}, {"label", "one o’clock"}, {"tags", {"clock"}}},
                         {{"hexcode", "0031-FE0F-20E3"}, {"label", "keycap: 1"}, {"tags", {"keycap"}}},
                         {{"hexcode", "1F939"}, {"label", "person juggling"}, {"tags", {"juggle"}}},
                         {{"hexcode", "1F939-200D-2642-FE0F"}, {"label", "man juggling"}, {"tags", {"juggle"}}},
                         {{"hexcode", "1F46A"}, {"label", "family: man, woman, boy"}, {"tags", {"family"}}}});
  Json de = Json::array({{{"hexcode", "1F431"}, {"label", "Katzengesicht"}, {"tags", {"Katze", "Gesicht"}}},
                         {{"hexcode", "2603-FE0F"}, {"label", "Schneemann"}, {"tags", {"Winter", "Schnee"}}}});
  fs::create_directories(npm / "emojibase-data" / "en");
  fs::create_directories(npm / "emojibase-data" / "de");
  write_file_atomic((npm / "emojibase-data" / "en" / "data.json").string(), en.dump());
  write_file_atomic((npm / "emojibase-data" / "de" / "data.json").string(), de.dump());
  return npm.string();
}

// Options for the small npm folder made in `dir`, writing into dir/set, with German keywords only.
EmojiDatasetOptions small_set(const std::string& dir) {
  EmojiDatasetOptions o;
  o.npm_dir = make_npm(dir);
  o.out = dir + "/set";
  o.languages = {"de"};
  return o;
}

// The rows of a metadata.jsonl.
std::vector<Json> metadata_rows(const std::string& path) {
  std::istringstream lines(read_file(path));
  std::vector<Json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(Json::parse(line));
  return rows;
}

}  // namespace

TEST(EmojiDataset, DrawableConceptsBothStylesCaptionsAndInventory) {
  const auto dir = test::scratch_dir("emoji_dataset");
  const auto o = small_set(dir);
  const auto r = build_emoji_dataset(o);
  EXPECT_EQ(r.concepts, 3);  // cat face, waving hand, snowman
  EXPECT_EQ(r.skipped_kind, 3);  // flag, clock face, keycap
  EXPECT_EQ(r.skipped_variant, 2);  // man juggling (person juggling exists), family: man, woman, boy
  EXPECT_EQ(r.images, 2 + 4 + 2);  // waving hand: both styles + one skin tone each

  const auto inv = read_json_file(o.out + "/concepts.json");
  ASSERT_EQ(inv.at("concepts").size(), 3u);
  const auto& cat = inv.at("concepts")[0];
  EXPECT_EQ(cat.at("id"), "cat-face");
  EXPECT_EQ(cat.at("caption"), "cat face");
  EXPECT_EQ(cat.at("names").at("de")[0], "Katzengesicht");
  EXPECT_EQ(cat.at("images").size(), 2u);
  const auto& snowman = inv.at("concepts")[2];
  EXPECT_EQ(snowman.at("hexcode"), "2603") << "variation selectors are not part of the key";
  EXPECT_EQ(snowman.at("names").at("de")[1], "Winter");
  EXPECT_EQ(inv.at("concepts")[1].at("images").size(), 4u);

  // Composited on white: a corner pixel is white, the disc keeps its colour.
  const auto img = read_image(o.out + "/" + cat.at("images")[0].get<std::string>());
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels[0], 255);
  EXPECT_EQ(img.pixels[(32 * 64 + 32) * 3], 200);

  // Every image has the plain name as a caption and one with keywords the name does not say.
  std::istringstream lines(read_file(o.out + "/metadata.jsonl"));
  std::string line;
  int rows = 0, with_keywords = 0;
  while (std::getline(lines, line)) {
    const auto j = Json::parse(line);
    ++rows;
    EXPECT_TRUE(fs::exists(o.out + "/" + j.at("file_name").get<std::string>()));
    const auto text = j.at("text").get<std::string>();
    if (text.find(", ") != std::string::npos) ++with_keywords;
    if (j.at("concept") == "cat-face") EXPECT_EQ(text.rfind("cat face", 0), 0u) << text;
  }
  EXPECT_EQ(rows, 2 * r.images);
  EXPECT_EQ(with_keywords, r.images);
  // The variants' pictures are still there for the autoencoder: man juggling (2 captions) and the family (1), in
  // both styles.
  std::istringstream all(read_file(o.out + "/metadata_all.jsonl"));
  int all_rows = 0;
  while (std::getline(all, line)) ++all_rows;
  EXPECT_EQ(all_rows, rows + 2 * 2 + 2 * 1);
}

// With look words every caption is there twice: as it was, and ending in the picture's look (Noto "glossy",
// Twemoji "flat"), so the model learns the look from the word and either look from the plain caption.
TEST(EmojiDataset, LookWordsNameEachPicturesStyle) {
  const auto dir = test::scratch_dir("emoji_dataset_looks");
  auto o = small_set(dir);
  const auto plain = build_emoji_dataset(o);
  const auto plain_rows = metadata_rows(o.out + "/metadata.jsonl");
  o.out = dir + "/looks";
  o.look_words = "after";
  const auto looks = build_emoji_dataset(o);
  EXPECT_EQ(looks.images, plain.images);
  EXPECT_EQ(looks.captions, 2 * plain.captions);
  std::map<std::string, int> by_ending;
  std::set<std::string> texts;
  for (const auto& j : metadata_rows(o.out + "/metadata.jsonl")) {
    const auto file = j.at("file_name").get<std::string>(), text = j.at("text").get<std::string>();
    texts.insert(file + "|" + text);
    const bool google = file.find("-google") != std::string::npos;
    const auto ends = [&](const std::string& w) { return text.size() > w.size() && text.rfind(" " + w) == text.size() - w.size() - 1; };
    if (ends("glossy")) {
      EXPECT_TRUE(google) << file << ": " << text;
      ++by_ending["glossy"];
    } else if (ends("flat")) {
      EXPECT_FALSE(google) << file << ": " << text;
      ++by_ending["flat"];
    } else {
      ++by_ending["none"];
    }
  }
  EXPECT_EQ(by_ending["none"], plain.captions);
  EXPECT_EQ(by_ending["glossy"] + by_ending["flat"], plain.captions);
  EXPECT_EQ(by_ending["glossy"], by_ending["flat"]) << "every concept has both styles";
  // The plain rows are the plain data set's, byte for byte (the same seeded keywords and skin tones).
  for (const auto& j : plain_rows)
    EXPECT_TRUE(texts.count(j.at("file_name").get<std::string>() + "|" + j.at("text").get<std::string>())) << j.dump();
}

TEST(EmojiDataset, LookWordsBeforeTheCaption) {
  auto o = small_set(test::scratch_dir("emoji_dataset_looks_before"));
  o.look_words = "before";
  build_emoji_dataset(o);
  int flat = 0, glossy = 0;
  for (const auto& j : metadata_rows(o.out + "/metadata.jsonl")) {
    const auto file = j.at("file_name").get<std::string>(), text = j.at("text").get<std::string>();
    if (text.rfind("flat ", 0) == 0) {
      ++flat;
      EXPECT_NE(file.find("-twitter"), std::string::npos) << text;
    }
    if (text.rfind("glossy ", 0) == 0) {
      ++glossy;
      EXPECT_NE(file.find("-google"), std::string::npos) << text;
    }
  }
  EXPECT_GT(flat, 0);
  EXPECT_EQ(flat, glossy);
  o.look_words = "middle";
  EXPECT_THROW(build_emoji_dataset(o), Error);
}

TEST(EmojiDataset, OnlyOneLooksPicturesWithTheFullSetsCaptions) {
  const auto dir = test::scratch_dir("emoji_dataset_only_look");
  auto o = small_set(dir);
  const auto all = build_emoji_dataset(o);
  std::set<std::string> all_rows;
  for (const auto& j : metadata_rows(o.out + "/metadata.jsonl")) all_rows.insert(j.dump());
  o.out = dir + "/flat";
  o.only_look = "flat";
  const auto flat = build_emoji_dataset(o);
  EXPECT_EQ(2 * flat.images, all.images);
  EXPECT_EQ(2 * flat.captions, all.captions);
  for (const auto& j : metadata_rows(o.out + "/metadata.jsonl")) {
    EXPECT_NE(j.at("file_name").get<std::string>().find("-twitter"), std::string::npos) << j.dump();
    EXPECT_TRUE(all_rows.count(j.dump())) << "the same seeded captions as the full set: " << j.dump();
  }
  // The autoencoder's rows stay whole.
  EXPECT_EQ(read_file(o.out + "/metadata_all.jsonl"), read_file(dir + "/set/metadata_all.jsonl"));
  o.only_look = "shiny";
  EXPECT_NE(test::error_of([&] { build_emoji_dataset(o); }).find("--only-look must be glossy or flat"), std::string::npos);
}

TEST(EmojiDataset, MissingPackageIsAClearError) {
  const auto dir = test::scratch_dir("emoji_dataset_missing");
  EmojiDatasetOptions o;
  o.npm_dir = dir;
  o.out = dir + "/set";
  try {
    build_emoji_dataset(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("emoji-datasource-google"), std::string::npos) << e.what();
  }
}
