// The curated lexicon: big enough, every scene concrete and clean, and the load errors name file and line.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "interpret/lexicon.h"
#include "interpret/sanitize.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

const Lexicon& repo_lexicon() {
  static const Lexicon lex = Lexicon::load(test::source_dir() + "/data/lexicon.tsv");
  return lex;
}

std::string first_word(const std::string& s) { return s.substr(0, s.find(' ')); }

}  // namespace

TEST(Lexicon, HasAtLeast300Words) { EXPECT_GE(repo_lexicon().words().size(), 300u); }

TEST(Lexicon, CoversEveryCategoryOfTheIssue) {
  std::map<std::string, int> per_category;
  for (const auto& e : repo_lexicon().words()) per_category[e.category]++;
  for (const char* c : {"emotion", "virtue", "relationship", "action", "season", "weather", "nature", "object"})
    EXPECT_GE(per_category[c], 4) << c;
}

TEST(Lexicon, EveryEntryIsADrawableScene) {
  // A drawable scene names its figures or objects: it starts with an article or a number and stays short.
  static const std::set<std::string> openers = {"a", "an", "the", "two"};
  for (const auto& e : repo_lexicon().words()) {
    SCOPED_TRACE(e.word);
    ASSERT_FALSE(e.scene.empty());
    EXPECT_EQ(sanitize_scene(e.scene), e.scene);
    EXPECT_EQ(normalize_word(e.word), e.word);
    EXPECT_TRUE(openers.count(first_word(e.scene))) << "scene opens oddly: " << e.scene;
    std::istringstream in(e.scene);
    int words = 0;
    for (std::string w; in >> w;) {
      ++words;
      EXPECT_TRUE(w != "word" && w != "text" && w != "letters" && w != "written") << "text in the picture: " << e.scene;
    }
    EXPECT_LE(words, 12) << e.scene;
  }
}

TEST(Lexicon, TheIssueExamples) {
  const auto& lex = repo_lexicon();
  EXPECT_EQ(lex.find("love")->scene, "two people hugging");
  EXPECT_EQ(lex.find("loneliness")->scene, "a single figure sitting on a bench");
  EXPECT_EQ(lex.find("freedom")->scene, "a bird flying out of an open cage");
  EXPECT_EQ(lex.find("noun.feeling")->category, "lexfile");
  EXPECT_FALSE(lex.fallback_scene().empty());
}

TEST(Lexicon, DefaultPathFindsTheRepositoryFile) { EXPECT_NO_THROW(Lexicon::load(Lexicon::default_path())); }

TEST(Lexicon, LoadErrorsNameFileAndLine) {
  const auto dir = test::scratch_dir("lex");
  const auto expect_error = [&](const std::string& text, const std::string& needle) {
    const auto path = dir + "/bad.tsv";
    write_file_atomic(path, text);
    try {
      Lexicon::load(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  const std::string fallback = "*\tfallback\ta figure\n";
  expect_error(fallback + "love\temotion\n", ":2: expected");
  expect_error(fallback + "love\temotion\ttwo people (hugging)\n", ":2: scene of 'love'");
  expect_error(fallback + "Love\temotion\ttwo people hugging\n", "not a normalised word");
  expect_error(fallback + "love\temotion\ta\nlove\temotion\tb\n", "listed twice");
  expect_error("love\temotion\ttwo people hugging\n", "no fallback");
}
