// The offline provider: lexicon first, then WordNet (lemmas, most common reading, concrete nouns, verbs, abstract
// nouns and adjectives through related words), the generic fallback, and concept mapping by WordNet similarity.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "interpret/concepts.h"
#include "interpret/offline_provider.h"
#include "interpret/sanitize.h"
#include "interpret/wordnet.h"
#include "support/fixtures.h"

using namespace prtkl;
using wordnet::Pos;

namespace {

OfflineProvider& offline() {
  static OfflineProvider p(std::make_shared<const Lexicon>(Lexicon::load(test::source_dir() + "/data/lexicon.tsv")));
  return p;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void expect_scene(const std::string& word, const std::string& scene, const std::string& detail_part) {
  const auto a = offline().interpret(word);
  EXPECT_EQ(a.scene, scene) << word << " [" << a.detail << "]";
  EXPECT_NE(a.detail.find(detail_part), std::string::npos) << word << ": " << a.detail;
}

}  // namespace

TEST(WordNet, Lemmatises) {
  EXPECT_TRUE(contains(wordnet::base_forms("mice", Pos::Noun), "mouse"));
  EXPECT_TRUE(contains(wordnet::base_forms("children", Pos::Noun), "child"));
  EXPECT_TRUE(contains(wordnet::base_forms("running", Pos::Verb), "run"));
  EXPECT_TRUE(contains(wordnet::base_forms("went", Pos::Verb), "go"));
  EXPECT_TRUE(contains(wordnet::base_forms("happier", Pos::Adj), "happy"));
  EXPECT_TRUE(contains(wordnet::base_forms("ice cream", Pos::Noun), "ice cream"));
  EXPECT_TRUE(wordnet::base_forms("xyzzy", Pos::Noun).empty());
}

TEST(WordNet, SensesAndHypernyms) {
  const auto dog = wordnet::senses("dog", Pos::Noun);
  ASSERT_FALSE(dog.empty());
  const auto syn = wordnet::synset(dog.front());
  EXPECT_EQ(syn.lexfile, "noun.animal");
  EXPECT_TRUE(contains(syn.words, "dog"));
  EXPECT_GT(wordnet::sense_counts("dog", Pos::Noun).front(), 0);
  // dog -> canine -> carnivore -> ... -> animal -> ... -> entity
  const auto up = wordnet::ancestors(dog.front());
  const auto animal = wordnet::senses("animal", Pos::Noun).front();
  ASSERT_TRUE(up.count(animal));
  EXPECT_GE(up.at(animal), 2);
  EXPECT_EQ(up.at(dog.front()), 0);
}

TEST(WordNet, MissingDatabaseIsAClearError) {
  // WordNet's state is process-wide and stays open once opened, so this runs in a fresh process.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("WNSEARCHDIR", "/nonexistent/wordnet", 1);
        try {
          wordnet::database_dir();
        } catch (const Error& e) {
          std::cerr << e.what();
          std::exit(3);
        }
        std::exit(0);
      },
      ::testing::ExitedWithCode(3), "WordNet database not found in /nonexistent/wordnet.*wordnet-base.*WNSEARCHDIR");
}

TEST(Offline, LexiconWordsAndTheirInflections) {
  expect_scene("love", "two people hugging", "lexicon");
  expect_scene("loneliness", "a single figure sitting on a bench", "lexicon");
  expect_scene("freedom", "a bird flying out of an open cage", "lexicon");
  expect_scene("mice", "a small mouse with a piece of cheese", "lexicon via noun 'mouse'");
  expect_scene("running", "a figure running", "lexicon via verb 'run'");
  expect_scene("went", "a figure walking away down a long road", "lexicon via verb 'go'");
  expect_scene("loved", "two people hugging", "lexicon via verb 'love'");
  expect_scene("happier", "a smiling figure dancing in a meadow", "lexicon via adjective 'happy'");
}

TEST(Offline, ConcreteNounsBecomeTheThing) {
  expect_scene("kitten", "a kitten", "concrete noun (noun.animal)");
  expect_scene("sparrows", "a sparrow", "concrete noun");
  expect_scene("teacup", "a teacup", "concrete noun (noun.artifact)");  // the cup, not the quantity
  expect_scene("umbrellas", "an open umbrella", "lexicon via noun 'umbrella'");
  expect_scene("granite", "a pile of granite", "concrete noun (noun.substance)");
  expect_scene("orchid", "an orchid", "concrete noun (noun.plant)");
}

TEST(Offline, VerbsBecomeAFigureDoingIt) {
  expect_scene("juggle", "a figure juggling", "wordnet: verb");
  expect_scene("stumbled", "a figure stumbling", "wordnet: verb 'stumble'");
  expect_scene("hop", "a figure hopping", "wordnet: verb");
  // Verbs of feeling show the feeling.
  const auto scared = offline().interpret("terrified");
  EXPECT_NE(scared.detail.find("verb of feeling"), std::string::npos) << scared.detail;
}

TEST(Offline, AbstractNounsAndAdjectivesGoThroughRelatedWords) {
  expect_scene("shyness", "a child peeking from behind a door", "abstract noun (noun.feeling) via 'shy'");
  expect_scene("serendipity", "a four-leaf clover", "via 'luck'");
  expect_scene("joyful", "a smiling figure dancing in a meadow", "adjective via 'happy'");
  expect_scene("courageous", "a knight facing a dragon", "adjective via 'brave'");
  expect_scene("enormous", "an elephant beside a mouse", "adjective via 'big'");
  expect_scene("sadly", "a figure sitting with its head in its hands", "adverb via 'sad'");
  expect_scene("algorithm", "a figure thinking with a hand on its chin", "abstract noun (noun.cognition)");
}

TEST(Offline, NonWordsGetTheGenericScene) {
  const auto& fallback = "a single figure standing on a hill at sunrise";
  expect_scene("xyzzy", fallback, "fallback");
  expect_scene("\xE6\x84\x9B", fallback, "fallback");  // 愛: a word, but not an English one
}

TEST(Offline, NoEnglishWordReturnsNothing) {
  // A spread of WordNet's own lemmas, every part of speech: each gets a clean, non-empty scene.
  int checked = 0;
  for (const char* file : {"index.noun", "index.verb", "index.adj", "index.adv"}) {
    std::ifstream in(wordnet::database_dir() + "/" + file);
    ASSERT_TRUE(in) << file;
    int line_no = 0;
    for (std::string line; std::getline(in, line); ++line_no) {
      if (line.empty() || line[0] == ' ' || line_no % 97 != 0) continue;
      std::string lemma = line.substr(0, line.find(' '));
      std::replace(lemma.begin(), lemma.end(), '_', ' ');
      std::string word;
      try {
        word = normalize_word(lemma);
      } catch (const Error&) {
        continue;  // WordNet also lists "24/7" and "a.m."; the input rules turn those away first
      }
      const auto a = offline().interpret(word);
      EXPECT_EQ(sanitize_scene(a.scene), a.scene) << word;
      EXPECT_EQ(a.detail.find("not an English word"), std::string::npos) << word << ": " << a.detail;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Offline, EnglishHelpers) {
  EXPECT_EQ(with_article("owl"), "an owl");
  EXPECT_EQ(with_article("bird"), "a bird");
  EXPECT_EQ(with_article("unicorn"), "a unicorn");
  EXPECT_EQ(with_article("umbrella"), "an umbrella");
  EXPECT_EQ(with_article("hour"), "an hour");
  EXPECT_EQ(gerund("run"), "running");
  EXPECT_EQ(gerund("swim"), "swimming");
  EXPECT_EQ(gerund("make"), "making");
  EXPECT_EQ(gerund("lie"), "lying");
  EXPECT_EQ(gerund("see"), "seeing");
  EXPECT_EQ(gerund("visit"), "visiting");
  EXPECT_EQ(gerund("rain"), "raining");
  EXPECT_EQ(gerund("fix"), "fixing");
  EXPECT_EQ(gerund("play"), "playing");
  EXPECT_EQ(gerund("begin"), "beginning");
  EXPECT_EQ(gerund("look up"), "looking up");
}

TEST(Concepts, NearestConceptByWordNetSimilarity) {
  const std::vector<std::string> concepts = {"a bird", "a cat", "a tree", "two people hugging"};
  const auto tiger = nearest_concept("tiger", "a tiger walking", concepts);
  EXPECT_EQ(tiger.concept, "a cat");
  EXPECT_GT(tiger.score, 0.2);
  EXPECT_NE(tiger.reason.find("path similarity"), std::string::npos) << tiger.reason;
  EXPECT_EQ(nearest_concept("oak", "an oak", concepts).concept, "a tree");
  EXPECT_EQ(nearest_concept("sparrow", "a sparrow", concepts).concept, "a bird");
  const auto freedom = nearest_concept("freedom", "a bird flying out of an open cage", concepts);
  EXPECT_EQ(freedom.concept, "a bird");
  EXPECT_NE(freedom.reason.find("from the scene"), std::string::npos) << freedom.reason;
  const auto cat = nearest_concept("cat", "a cat sitting", concepts);
  EXPECT_EQ(cat.concept, "a cat");
  EXPECT_DOUBLE_EQ(cat.score, 1.0);
  // A word WordNet does not know still gets a concept, and the reason says why.
  const auto unknown = nearest_concept("xyzzy", "a single figure", {"a cat", "a tree"});
  EXPECT_FALSE(unknown.concept.empty());
  EXPECT_THROW(nearest_concept("cat", "a cat", {}), Error);
}
