#include "data/emoji_dataset.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "data/emoji_styles.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

// Categories and subcategories (emoji-datasource's names, which are Unicode's) that are not pictures of a thing.
const std::set<std::string> kSkipCategories = {"Flags", "Component"};
const std::set<std::string> kSkipSubcategories = {"alphanum", "keycap",   "arrow",        "math",
                                                  "punctuation", "currency", "av-symbol", "geometric",
                                                  "other-symbol", "transport-sign", "gender", "zodiac"};

bool is_clock_face(const std::string& label) {
  return label.find("o\u2019clock") != std::string::npos || label.find("o'clock") != std::string::npos ||
         label.find("-thirty") != std::string::npos;
}

// Near-duplicates of another concept: a gendered form of a picture that also exists gender-neutral ("man
// juggling" beside "person juggling") and qualified forms ("family: man, girl", "person running: facing right").
// They would split the same picture over several captions.
bool is_variant(const std::string& label, const std::set<std::string>& labels) {
  if (label.find(':') != std::string::npos) return true;
  for (const char* g : {"man ", "woman ", "men ", "women "}) {
    const std::string prefix(g);
    if (label.rfind(prefix, 0) != 0) continue;
    const auto rest = label.substr(prefix.size());
    if (labels.count(rest) || labels.count("person " + rest) || labels.count("people " + rest)) return true;
  }
  return false;
}

std::string strip_fe0f(std::string hex) {
  for (size_t p; (p = hex.find("-FE0F")) != std::string::npos;) hex.erase(p, 5);
  return hex;
}

std::string slug(const std::string& label) {
  std::string s;
  for (unsigned char c : label) {
    if (std::isalnum(c)) {
      s += static_cast<char>(std::tolower(c));
    } else if (c < 0x80) {
      if (!s.empty() && s.back() != '-') s += '-';
    } else {
      s += static_cast<char>(c);  // keep non-ASCII letters (é, ñ …) as they are
    }
  }
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s;
}

Json read_package_json(const fs::path& npm, const std::string& package, const std::string& file) {
  const auto path = npm / package / file;
  if (!fs::exists(path))
    fail(path.string(), ": missing (install the npm package ", package, " into ", npm.string(), ")");
  return read_json_file(path.string());
}

// A picture with or without alpha (gray, gray + alpha, RGB, RGBA, as the PNG stores it) composited onto white,
// as 8-bit RGB.
Image on_white(const Image& in) {
  const int n = in.channels;
  const bool alpha = n == 2 || n == 4;
  Image out{in.width, in.height, 3, std::vector<uint8_t>(size_t(in.width) * in.height * 3)};
  for (size_t i = 0; i < size_t(in.width) * in.height; ++i) {
    const uint8_t* p = &in.pixels[i * n];
    const int a = alpha ? p[n - 1] : 255;
    for (int c = 0; c < 3; ++c) {
      const int v = n >= 3 ? p[c] : p[0];
      out.pixels[i * 3 + c] = static_cast<uint8_t>((v * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return out;
}

}  // namespace

EmojiDatasetResult build_emoji_dataset(const EmojiDatasetOptions& o) {
  const fs::path npm(o.npm_dir), out(o.out);
  if (!o.look_words.empty() && o.look_words != "before" && o.look_words != "after")
    fail("dataset emoji: --look-words must be before or after, not '", o.look_words, "'");
  if (!o.only_look.empty() &&
      std::none_of(std::begin(kEmojiStyles), std::end(kEmojiStyles), [&](const auto& s) { return o.only_look == s.look; }))
    fail("dataset emoji: --only-look must be ", kEmojiStyles[0].look, " or ", kEmojiStyles[1].look, ", not '",
         o.only_look, "'");
  const auto sheet = read_package_json(npm, kEmojiStyles[0].package, "emoji.json");
  const auto sheet_2 = read_package_json(npm, kEmojiStyles[1].package, "emoji.json");
  std::set<std::string> in_second_style;
  for (const auto& e : sheet_2)
    if (e.value(kEmojiStyles[1].has_field, false)) in_second_style.insert(e.at("unified").get<std::string>());

  // CLDR labels and keywords per language, by code point sequence without variation selectors.
  std::map<std::string, std::map<std::string, Json>> cldr;  // language -> hexcode -> entry
  std::vector<std::string> languages = {"en"};
  for (const auto& l : o.languages)
    if (l != "en") languages.push_back(l);
  for (const auto& lang : languages)
    for (const auto& e : read_package_json(npm, "emojibase-data", lang + "/data.json"))
      if (e.contains("hexcode")) cldr[lang][strip_fe0f(e.at("hexcode").get<std::string>())] = e;

  std::set<std::string> labels;
  for (const auto& [hex, e] : cldr["en"]) labels.insert(e.value("label", std::string()));

  fs::create_directories(out / "images");
  EmojiDatasetResult r;
  std::mt19937_64 rng(o.seed);
  Json concepts = Json::array();
  std::string metadata, all_metadata;
  std::set<std::string> ids;
  for (const auto& e : sheet) {
    const auto unified = e.at("unified").get<std::string>();
    const auto category = e.value("category", std::string()), subcategory = e.value("subcategory", std::string());
    const auto key = strip_fe0f(unified);
    auto en = cldr["en"].find(key);
    if (en == cldr["en"].end() || !e.value(kEmojiStyles[0].has_field, false) || !in_second_style.count(unified)) {
      ++r.skipped_missing;
      continue;
    }
    const auto label = en->second.at("label").get<std::string>();
    if (kSkipCategories.count(category) || kSkipSubcategories.count(subcategory) || is_clock_face(label)) {
      ++r.skipped_kind;
      continue;
    }
    // Variants are built like concepts (so the seeded choices of every later concept stay the same) and go to
    // metadata_all.jsonl only: the autoencoder learns every picture, the text-to-image stages the concepts.
    const bool variant = is_variant(label, labels);
    std::string id = slug(label);
    while (ids.count(id)) id += "-2";
    ids.insert(id);

    std::vector<std::string> keywords;
    for (const auto& t : en->second.value("tags", Json::array())) keywords.push_back(t.get<std::string>());
    // Captions: the name alone, and the name with up to three keywords it does not already say.
    std::vector<std::string> extra;
    for (const auto& k : keywords)
      if (label.find(k) == std::string::npos) extra.push_back(k);
    std::shuffle(extra.begin(), extra.end(), rng);
    std::string long_caption = label;
    for (size_t i = 0; i < std::min<size_t>(3, extra.size()); ++i) long_caption += ", " + extra[i];
    std::vector<std::string> captions{label};
    if (long_caption != label) captions.push_back(long_caption);

    // Images: both styles; for people, one skin tone per style as a variant of the same concept.
    std::vector<std::string> tone_files;
    if (e.contains("skin_variations"))
      for (const auto& [tone, v] : e.at("skin_variations").items()) tone_files.push_back(v.at("image").get<std::string>());
    std::sort(tone_files.begin(), tone_files.end());
    Json images = Json::array();
    for (const auto& style : kEmojiStyles) {
      std::vector<std::string> files{e.at("image").get<std::string>()};
      if (!tone_files.empty()) files.push_back(tone_files[rng() % tone_files.size()]);
      for (size_t v = 0; v < files.size(); ++v) {
        const auto src = npm / style.package / "img" / style.name / "64" / files[v];
        if (!fs::exists(src)) fail(src.string(), ": missing image (is ", style.package, " complete?)");
        const auto name = fs::path(files[v]).stem().string() + "-" + style.name + ".png";
        write_png((out / "images" / name).string(), on_white(read_image(src.string())));
        images.push_back("images/" + name);
        std::vector<std::string> texts = captions;
        for (const auto& caption : captions) {
          if (o.look_words == "after") texts.push_back(caption + " " + style.look);
          if (o.look_words == "before") texts.push_back(std::string(style.look) + " " + caption);
        }
        const bool kept = !variant && (o.only_look.empty() || o.only_look == style.look);
        for (const auto& text : texts) {
          const auto row = Json({{"file_name", "images/" + name}, {"text", text}, {"concept", id}}).dump() + "\n";
          all_metadata += row;
          if (!kept) continue;
          metadata += row;
          ++r.captions;
        }
        if (kept) ++r.images;
      }
    }

    Json names = Json::object();  // language -> [label, keywords…], for the interpreter
    for (const auto& lang : languages) {
      auto it = cldr[lang].find(key);
      if (it == cldr[lang].end()) continue;
      Json words = Json::array({it->second.at("label")});
      for (const auto& t : it->second.value("tags", Json::array())) words.push_back(t);
      names[lang] = words;
    }
    if (variant) {
      ++r.skipped_variant;
      continue;
    }
    concepts.push_back({{"id", id},
                        {"caption", label},
                        {"emoji", en->second.value("emoji", std::string())},
                        {"hexcode", key},
                        {"category", category},
                        {"subcategory", subcategory},
                        {"keywords", keywords},
                        {"names", names},
                        {"images", images}});
    ++r.concepts;
  }
  if (r.concepts == 0) fail(o.npm_dir, ": no drawable emoji found");
  write_file_atomic((out / "metadata.jsonl").string(), metadata);
  write_file_atomic((out / "metadata_all.jsonl").string(), all_metadata);
  Json inventory{{"sources",
                  {{"google", "emoji-datasource-google (Noto Color Emoji), images Apache-2.0"},
                   {"twitter", "emoji-datasource-twitter (Twemoji by Twitter, Inc. and contributors), images CC-BY 4.0"},
                   {"names", "emojibase-data (Unicode CLDR annotations), MIT / Unicode License"}}},
                 {"seed", o.seed},
                 {"concepts", concepts}};
  write_file_atomic((out / "concepts.json").string(), inventory.dump(1) + "\n");
  return r;
}

}  // namespace prtkl
