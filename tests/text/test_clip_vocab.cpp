// The CLIP vocabulary prtkl ships (third_party/clip): SD 1.x's tokenizer and SDXL's two built from its merges give
// the token ids CLIP's published vocabulary has, and the folders prtkl writes from it load back unchanged.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "support/fixtures.h"
#include "text/clip_vocab.h"

using namespace prtkl;

namespace {

const ClipTokenizer& clip_tokenizer(bool bang_pad) {
  static const ClipTokenizer eos = openai_clip_tokenizer();
  static const ClipTokenizer bang = openai_clip_tokenizer({"!"});
  return bang_pad ? bang : eos;
}

std::vector<int64_t> head(const std::vector<int64_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }

}  // namespace

TEST(ClipVocab, OpenAiClipTokenIds) {
  const auto& tok = clip_tokenizer(false);
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.window(), 77);
  // Ids as CLIP's vocab.json has them (openai/clip-vit-large-patch14).
  const auto ids = tok.encode_padded("a photo of a cat");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(head(ids, 7), (std::vector<int64_t>{49406, 320, 1125, 539, 320, 2368, 49407}));
  for (size_t i = 7; i < 77; ++i) EXPECT_EQ(ids[i], 49407);
  EXPECT_EQ(tok.encode("Hello, world. A dog!"),
            (std::vector<int64_t>{49406, 3306, 267, 1002, 269, 320, 1929, 256, 49407}));
}

TEST(ClipVocab, SdxlSecondTokenizerPadsWithBang) {
  const auto& tok = clip_tokenizer(true);
  EXPECT_EQ(tok.pad_id(), 0);
  const auto ids = tok.encode_padded("a photo of a cat");
  EXPECT_EQ(head(ids, 7), (std::vector<int64_t>{49406, 320, 1125, 539, 320, 2368, 49407}));
  for (size_t i = 7; i < 77; ++i) EXPECT_EQ(ids[i], 0);
  // "!" is an added token there (transformers matches it before BPE), a word-final "!</w>" in the first.
  EXPECT_EQ(tok.encode("a dog!"), (std::vector<int64_t>{49406, 320, 1929, 0, 49407}));
  EXPECT_EQ(clip_tokenizer(false).encode("a dog!"), (std::vector<int64_t>{49406, 320, 1929, 256, 49407}));
}

TEST(ClipVocab, WrittenFoldersLoadBackUnchanged) {
  const auto merges = read_bpe_merges(openai_clip_merges_path());
  ASSERT_EQ(merges.size(), 48894u);
  const std::string text = "an astronaut riding a horse on the moon, 8k, trending — über café 猫 :)";
  for (const bool bang : {false, true}) {
    const auto dir = test::scratch_dir(bang ? "clip_vocab_bang" : "clip_vocab") + "/tokenizer";
    write_clip_tokenizer(merges, {bang ? "!" : "<|endoftext|>"}, dir);
    const auto loaded = ClipTokenizer::load(dir);
    EXPECT_EQ(read_json_file(dir + "/vocab.json").size(), 49408u);
    EXPECT_EQ(read_bpe_merges(dir + "/merges.txt"), merges);
    EXPECT_EQ(loaded.encode_padded(text), clip_tokenizer(bang).encode_padded(text));
    EXPECT_EQ(loaded.encode(text + " !"), clip_tokenizer(bang).encode(text + " !"));
    EXPECT_EQ(loaded.pad_id(), bang ? 0 : 49407);
  }
}

TEST(ClipVocab, BadMergesAreClearErrors) {
  const auto dir = test::scratch_dir("clip_vocab_bad");
  write_file_atomic(dir + "/merges.txt", std::string("#version: 0.2\ni n\nthree parts here\n"));
  try {
    read_bpe_merges(dir + "/merges.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt: line 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_bpe_merges(dir + "/missing.txt"), Error);
}
