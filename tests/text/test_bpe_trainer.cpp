// The BPE trainer writes a folder ClipTokenizer loads, in CLIP's vocabulary layout, whose merges make frequent
// words single tokens while every text still round-trips through byte characters.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/json_config.h"
#include "support/fixtures.h"
#include "text/bpe_trainer.h"
#include "text/clip_tokenizer.h"

using namespace prtkl;

TEST(BpeTrainer, FrequentWordsBecomeOneTokenAndTheFolderLoads) {
  const auto dir = test::scratch_dir("bpe_trainer") + "/tok";
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) texts.push_back("people hugging, red heart, snowman");
  texts.push_back("a rare zebra");
  const auto r = train_clip_bpe(texts, 600, dir);
  EXPECT_LE(r.vocab_size, 600);
  EXPECT_GT(r.merges, 10);
  const auto tok = ClipTokenizer::load(dir);
  EXPECT_EQ(tok.vocab_size(), r.vocab_size);
  // CLIP's layout: byte characters first ("!" is 0), specials last.
  const auto vocab = read_json_file(dir + "/vocab.json");
  EXPECT_EQ(vocab.at("!").get<int64_t>(), 0);
  EXPECT_EQ(vocab.at("!</w>").get<int64_t>(), 256);
  EXPECT_EQ(tok.bos_id(), r.vocab_size - 2);
  EXPECT_EQ(tok.eos_id(), r.vocab_size - 1);
  EXPECT_EQ(tok.pad_id(), tok.eos_id());
  // Frequent words are single tokens; a word seen once stays split into pieces but is not lost (no unknowns).
  const auto hug = tok.encode("hugging");
  EXPECT_EQ(hug.size(), 3u) << "bos hugging</w> eos";
  EXPECT_EQ(hug[1], tok.token_id("hugging</w>"));
  const auto zebra = tok.encode("zebra");
  EXPECT_GT(zebra.size(), 3u);
  for (size_t i = 1; i + 1 < zebra.size(); ++i) EXPECT_NE(zebra[i], tok.eos_id()) << "an unknown piece at " << i;
}

TEST(BpeTrainer, WritesTheWindowItIsGiven) {
  const auto dir = test::scratch_dir("bpe_window") + "/tok";
  train_clip_bpe({"red heart", "red apple", "snowman"}, 530, dir, 24);
  EXPECT_EQ(read_json_file(dir + "/tokenizer_config.json").at("model_max_length").get<int64_t>(), 24);
  EXPECT_EQ(ClipTokenizer::load(dir).window(), 24);
  EXPECT_THROW(train_clip_bpe({"red heart"}, 530, test::scratch_dir("bpe_window2") + "/tok", 2), Error);
}

TEST(BpeTrainer, TooSmallAVocabularyIsAnError) {
  EXPECT_THROW(train_clip_bpe({"a b"}, 100, test::scratch_dir("bpe_small") + "/tok"), Error);
}
