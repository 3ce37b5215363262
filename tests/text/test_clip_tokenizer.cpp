// The CLIP tokenizer against transformers' slow CLIPTokenizer on the fixture strings, both tokenizers of both
// models, plus long-prompt chunking and added tokens.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file_util.h"
#include "support/fixtures.h"
#include "text/clip_tokenizer.h"

using namespace prtkl;

namespace {

torch::Tensor ids(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

void check_tokenizer(const std::string& model, const std::string& name) {
  test::Reference ref(model);
  auto tok = ClipTokenizer::load(test::fixture_path(model + "/" + name));
  const auto& strings = ref.header().at("tokenizer_strings");
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto s = strings[i].get<std::string>();
    SCOPED_TRACE(name + " string " + std::to_string(i) + ": " + s);
    EXPECT_MATCHES(ref, name + ".ids." + std::to_string(i), ids(tok.encode_padded(s)));
    EXPECT_MATCHES(ref, name + ".raw_ids." + std::to_string(i), ids(tok.encode(s)));
  }
}

}  // namespace

TEST(ClipTokenizer, Sd15MatchesTransformers) { check_tokenizer("tiny-sd15", "tokenizer"); }
TEST(ClipTokenizer, SdxlMatchesTransformers) { check_tokenizer("tiny-sdxl", "tokenizer"); }
TEST(ClipTokenizer, SdxlSecondTokenizerPadsWithBang) { check_tokenizer("tiny-sdxl", "tokenizer_2"); }

TEST(ClipTokenizer, LongPromptsBecomeChunksNotCuts) {
  test::Reference ref("tiny-sd15");
  auto tok = ClipTokenizer::load(test::fixture_path("tiny-sd15/tokenizer"));
  const auto s = ref.header().at("tokenizer_strings").at(8).get<std::string>();
  const auto raw = ref.get("tokenizer.raw_ids.8");  // bos + 164 tokens + eos
  const auto body = raw.slice(0, 1, raw.size(0) - 1);
  const auto chunks = tok.encode_chunks(s);
  ASSERT_EQ(chunks.size(), 3u);
  for (size_t c = 0; c < chunks.size(); ++c) {
    ASSERT_EQ(chunks[c].size(), 77u);
    EXPECT_EQ(chunks[c].front(), tok.bos_id());
    const int64_t start = c * 75, n = std::min<int64_t>(75, body.size(0) - start);
    EXPECT_TRUE(torch::equal(ids(chunks[c]).slice(0, 1, 1 + n), body.slice(0, start, start + n))) << "chunk " << c;
    EXPECT_EQ(chunks[c][1 + n], tok.eos_id());
    for (size_t k = 2 + n; k < 77; ++k) EXPECT_EQ(chunks[c][k], tok.pad_id());
  }
  // A short prompt is one chunk, identical to diffusers' padded encoding.
  EXPECT_EQ(tok.encode_chunks("a cat"), std::vector<std::vector<int64_t>>{tok.encode_padded("a cat")});
  EXPECT_EQ(tok.encode_chunks("").size(), 1u);
}

TEST(ClipTokenizer, AddedTokensMatchBeforeBpe) {
  auto tok = ClipTokenizer::load(test::fixture_path("tiny-sd15/tokenizer"));
  EXPECT_EQ(tok.add_tokens({"<s0>", "<s1>"}), (std::vector<int64_t>{914, 915}));
  EXPECT_EQ(tok.vocab_size(), 916);
  const auto e = tok.encode("a photo of <s0><s1>, two");
  EXPECT_NE(std::find(e.begin(), e.end(), 914), e.end());
  auto it = std::find(e.begin(), e.end(), 914);
  EXPECT_EQ(*(it + 1), 915);
  EXPECT_EQ(tok.add_tokens({"<s0>"}), std::vector<int64_t>{914});  // existing token keeps its id
}

TEST(ClipTokenizer, BadFilesAreClearErrors) {
  const auto dir = test::scratch_dir("tok");
  EXPECT_THROW(ClipTokenizer::load(dir), Error);
  write_file_atomic(dir + "/vocab.json", std::string("{not json"));
  write_file_atomic(dir + "/merges.txt", std::string("#version: 0.2\n"));
  try {
    ClipTokenizer::load(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos) << e.what();
  }
}
