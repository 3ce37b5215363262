// The concept inventory of the bundled emoji model (concepts.json named by prtkl.json's "inventory"): words in
// any of its languages land on the concept that shows them best, and models without one are untouched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "interpret/interpreter.h"
#include "interpret/offline_provider.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

// A small inventory in the layout `prtkl dataset emoji` writes: English, Spanish and a little Chinese.
Json synthetic_inventory() {
  const auto concept = [](const std::string& caption, Json en, Json es, Json zh = nullptr) {
    Json names{{"en", std::move(en)}, {"es", std::move(es)}};
    if (!zh.is_null()) names["zh"] = std::move(zh);
    return Json{{"id", caption}, {"caption", caption}, {"names", names}};
  };
  return {{"seed", 0},
          {"concepts",
           {concept("cat face", {"cat face", "cat", "pet"}, {"cara de gato", "gato"}),
            concept("cat", {"cat", "animal", "pet"}, {"gato", "minino"}),
            concept("red heart", {"red heart", "heart", "love"}, {"corazón rojo", "corazón", "amor"}),
            concept("couple with heart: woman, man", {"couple with heart: woman, man", "couple", "love"},
                    {"pareja enamorada: mujer y hombre", "amor", "pareja"}, {"情侣", "恋爱"}),
            concept("people hugging", {"people hugging", "hug", "love"}, {"personas abrazándose", "abrazo", "amor"},
                    {"人的拥抱", "拥抱", "爱"}),
            concept("snowflake", {"snowflake", "snow", "winter"}, {"copo de nieve", "nieve", "invierno"}),
            concept("snowman", {"snowman", "snow", "cold"}, {"muñeco de nieve", "nieve"}),
            concept("broken chain", {"broken chain", "freedom", "chain"}, {"cadena rota", "libertad"}),
            concept("bird", {"bird", "animal"}, {"pájaro", "ave"})}}};
}

// A model folder with prtkl.json naming concepts.json, as the bundled model has.
std::string model_with(const Json& inventory) {
  const auto dir = test::scratch_dir("emoji-model");
  write_file_atomic(dir + "/concepts.json", inventory.dump());
  write_file_atomic(dir + "/prtkl.json",
                    R"({"trigger": "", "template": "{scene}", "style_suffix": "", "negative_prompt": "",
                        "inventory": "concepts.json"})");
  return dir;
}

Interpreter offline_for(ModelPrompt model) {
  std::vector<std::unique_ptr<Provider>> chain;
  chain.push_back(std::make_unique<OfflineProvider>(
      std::make_shared<const Lexicon>(Lexicon::load(test::source_dir() + "/data/lexicon.tsv"))));
  return Interpreter(std::move(chain), std::move(model));
}

// Answers "a bird" to everything and remembers the word it was asked.
class RecordingProvider : public Provider {
 public:
  std::string name() const override { return "recording"; }
  ProviderAnswer interpret(const std::string& word) override {
    *asked = word;
    return {"a bird", "fixed"};
  }
  std::shared_ptr<std::string> asked = std::make_shared<std::string>();
};

}  // namespace

TEST(Inventory, PrtklJsonNamesTheInventoryBesideIt) {
  const auto m = load_model_prompt(model_with(synthetic_inventory()));
  ASSERT_TRUE(m.inventory);
  EXPECT_EQ(m.concepts.size(), 9u);
  EXPECT_EQ(m.concepts[3], "couple with heart: woman, man");  // captions stay as the model learnt them
  EXPECT_EQ(m.assemble("couple with heart: woman, man"), "couple with heart: woman, man");
  // The keywords shape the results, so another file is another prompt version.
  auto changed = synthetic_inventory();
  changed["concepts"][0]["names"]["es"].push_back("michi");
  EXPECT_NE(load_model_prompt(model_with(changed)).version(), m.version());
}

TEST(Inventory, BadInventoriesNameFileAndField) {
  const auto expect_error = [](const std::string& prtkl_json, const std::string& concepts_json,
                               const std::string& needle) {
    const auto dir = test::scratch_dir("emoji-model");
    write_file_atomic(dir + "/prtkl.json", prtkl_json);
    if (!concepts_json.empty()) write_file_atomic(dir + "/concepts.json", concepts_json);
    try {
      load_model_prompt(dir);
      ADD_FAILURE() << "accepted " << prtkl_json << " with " << concepts_json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string inv = R"({"inventory": "concepts.json"})";
  expect_error(inv, "", "prtkl.json: field 'inventory': ");
  expect_error(R"({"inventory": "concepts.json", "concepts": ["a cat"]})", R"({"concepts": [{"caption": "cat"}]})",
               "not both");
  expect_error(inv, R"({"concepts": []})", "concepts.json: field 'concepts' is empty");
  expect_error(inv, R"({"concepts": [{"caption": "cat"}, {"id": "x"}]})",
               "concepts.json: concepts[1]: field 'caption' is missing");
  expect_error(inv, R"j({"concepts": [{"caption": "(cat:1.5)"}]})j", "concepts[0]: field 'caption'");
  expect_error(inv, R"({"concepts": [{"caption": "cat"}, {"caption": "Cat"}]})", "listed twice");
  expect_error(inv, R"({"concepts": [{"caption": "cat", "names": {"es": "gato"}}]})",
               "concepts[0]: field 'names' has the wrong type");
  expect_error(inv, R"({"concepts": [)", "concepts.json: invalid JSON");
}

TEST(Inventory, ForeignKeywordsPivotToTheirEnglishCounterpart) {
  const auto inv = Inventory::from_json(synthetic_inventory(), "concepts.json", "h");
  // "amor" is a keyword of three concepts that all have "love"; "heart" and "hug" share one each.
  const auto amor = inv.english_pivot("amor");
  ASSERT_TRUE(amor);
  EXPECT_EQ(amor->word, "love");
  EXPECT_NE(amor->reason.find("(es) of 3 concepts, 3 of them with the English keyword 'love'"), std::string::npos)
      << amor->reason;
  EXPECT_EQ(inv.english_pivot("AMOR")->word, "love");  // case folds in every script
  EXPECT_EQ(inv.english_pivot("gato")->word, "cat");
  // English words and unknown words need no pivot; a CJK keyword matches whole, never a character of another.
  EXPECT_FALSE(inv.english_pivot("love"));
  EXPECT_FALSE(inv.english_pivot("cat"));
  EXPECT_FALSE(inv.english_pivot("zebra"));
  EXPECT_FALSE(inv.english_pivot("恋"));
  EXPECT_NE(inv.english_pivot("爱")->reason.find("(zh) of 1 concept,"), std::string::npos);
}

TEST(Inventory, ACaptionWinsOverTheScene) {
  const auto inv = Inventory::from_json(synthetic_inventory(), "concepts.json", "h");
  // The scene "a bird" would land on bird; the word names a concept, and that concept is what it shows.
  const auto m = inv.match("snowman", "a bird");
  EXPECT_EQ(m.concept, "snowman");
  EXPECT_DOUBLE_EQ(m.score, 1.0);
  EXPECT_EQ(m.reason, "the word is the concept's caption");
  EXPECT_EQ(inv.match("cat face", "a bird").concept, "cat face");
  // "cat" is a keyword of "cat face" too, listed first; the caption still decides.
  EXPECT_EQ(inv.match("cat", "a bird").concept, "cat");
}

TEST(Inventory, WordsLandOnTheConceptThatShowsThemBest) {
  auto interp = offline_for(load_model_prompt(model_with(synthetic_inventory())));
  // love: a keyword of three concepts; the lexicon's scene shows one of them.
  const auto love = interp.interpret("love");
  EXPECT_EQ(love.provider_scene, "two people hugging");
  EXPECT_EQ(love.concept, "people hugging");
  EXPECT_EQ(love.prompt, "people hugging");
  EXPECT_NE(love.concept_reason.find("shows 'people hugging', which has the CLDR keyword 'love'"), std::string::npos)
      << love.concept_reason;
  // winter and freedom are keywords of snowflake and broken chain, but their scenes show snowman and bird.
  EXPECT_EQ(interp.interpret("winter").concept, "snowman");
  EXPECT_EQ(interp.interpret("freedom").concept, "bird");
  // Not in the inventory and no scene match: WordNet similarity over every concept.
  EXPECT_EQ(interp.interpret("sparrow").concept, "bird");
}

TEST(Inventory, ForeignWordsLandWhereTheirEnglishCounterpartLands) {
  auto interp = offline_for(load_model_prompt(model_with(synthetic_inventory())));
  const auto love = interp.interpret("love");
  for (const std::string word : {"amor", "Amor", "爱"}) {
    const auto r = interp.interpret(word);
    EXPECT_EQ(r.concept, love.concept) << word << ": " << r.concept_reason;
    EXPECT_EQ(r.prompt, love.prompt) << word;
  }
  const auto amor = interp.interpret("amor");
  EXPECT_EQ(amor.word, "amor");
  EXPECT_EQ(amor.detail, "lexicon, for English 'love'");
  EXPECT_EQ(amor.concept_reason.rfind("'amor' is a CLDR keyword (es)", 0), 0u) << amor.concept_reason;
  EXPECT_EQ(interp.interpret("gato").concept, "cat");
  // A keyword of one concept lands on it, whatever the English word stands for.
  EXPECT_EQ(interp.interpret("libertad").concept, "broken chain");
}

TEST(Inventory, WithoutAnInventoryTheProviderGetsTheWordAsTyped) {
  const auto run = [](ModelPrompt model) {
    auto p = std::make_unique<RecordingProvider>();
    auto asked = p->asked;
    std::vector<std::unique_ptr<Provider>> chain;
    chain.push_back(std::move(p));
    const auto r = Interpreter(std::move(chain), std::move(model)).interpret("amor");
    return std::make_pair(*asked, r);
  };
  const auto [plain_asked, plain] = run({});
  EXPECT_EQ(plain_asked, "amor");
  EXPECT_EQ(plain.scene, "a bird");
  EXPECT_EQ(plain.detail, "fixed");
  EXPECT_TRUE(plain.concept.empty());
  const auto [emoji_asked, emoji] = run(load_model_prompt(model_with(synthetic_inventory())));
  EXPECT_EQ(emoji_asked, "love");
  EXPECT_EQ(emoji.detail, "fixed, for English 'love'");
}

// The committed inventory of the bundled model, when the checkout has it (CI must).
TEST(Inventory, BundledModelLandsLoveInEveryLanguageTogether) {
  const auto model = test::source_dir() + "/models/prtkl-emoji";
  if (!std::filesystem::exists(model + "/concepts.json"))
    PRTKL_SKIP_OR_FAIL_ON_CI(model << "/concepts.json is not in this checkout");
  auto interp = offline_for(load_model_prompt(model));
  const auto love = interp.interpret("love");
  EXPECT_TRUE(love.concept == "people hugging" || love.concept.find("couple with heart") == 0) << love.concept;
  for (const std::string word : {"amor", "Liebe", "amour", "爱"}) {
    const auto r = interp.interpret(word);
    EXPECT_EQ(r.concept, love.concept) << word << ": " << r.concept_reason;
  }
  const auto contains = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  const auto winter = interp.interpret("winter");
  EXPECT_TRUE(contains(winter.concept, "snow")) << winter.concept << ": " << winter.concept_reason;
  const auto freedom = interp.interpret("freedom");
  EXPECT_TRUE(contains(freedom.concept, "bird")) << freedom.concept << ": " << freedom.concept_reason;
  EXPECT_EQ(interp.interpret("cat").concept, "cat");
  EXPECT_EQ(interp.interpret("pizza").concept, "pizza");
}
