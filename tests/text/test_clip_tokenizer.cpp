// The CLIP tokenizer against transformers' slow CLIPTokenizer on the fixture strings, both tokenizers of both
// models, plus long-prompt chunking and added tokens.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
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

namespace {

// The fixture tokenizer in a scratch folder with tokenizer_config.json's model_max_length set (or removed).
std::string tokenizer_with_window(const std::string& name, const Json& window) {
  const auto dir = test::scratch_dir(name);
  std::filesystem::copy(test::fixture_path("tiny-sd15/tokenizer"), dir);
  auto config = read_json_file(dir + "/tokenizer_config.json");
  if (window.is_null()) config.erase("model_max_length");
  else config["model_max_length"] = window;
  write_file_atomic(dir + "/tokenizer_config.json", config.dump(2));
  return dir;
}

}  // namespace

TEST(ClipTokenizer, WindowIsModelMaxLength) {
  auto clip = ClipTokenizer::load(test::fixture_path("tiny-sd15/tokenizer"));
  auto tok = ClipTokenizer::load(tokenizer_with_window("tok_window16", 16));
  ASSERT_EQ(clip.window(), 77);
  ASSERT_EQ(tok.window(), 16);
  const ClipTokenizer copy = tok;  // models copy their tokenizer (adapters add tokens to the copy)
  EXPECT_EQ(copy.window(), 16);
  // A short prompt: the first 16 ids of CLIP's 77.
  const auto padded = tok.encode_padded("a cat");
  const auto full = clip.encode_padded("a cat");
  EXPECT_EQ(padded, std::vector<int64_t>(full.begin(), full.begin() + 16));
  // A long prompt: 14-token chunks, each bos + chunk + eos + pads, that together hold every token in order.
  test::Reference ref("tiny-sd15");
  const auto s = ref.header().at("tokenizer_strings").at(8).get<std::string>();
  const auto raw = tok.encode(s);
  const std::vector<int64_t> body(raw.begin() + 1, raw.end() - 1);
  const auto chunks = tok.encode_chunks(s);
  ASSERT_EQ(chunks.size(), (body.size() + 13) / 14);
  std::vector<int64_t> joined;
  for (const auto& c : chunks) {
    ASSERT_EQ(c.size(), 16u);
    EXPECT_EQ(c.front(), tok.bos_id());
    const auto eos = std::find(c.begin() + 1, c.end(), tok.eos_id());
    ASSERT_NE(eos, c.end());
    joined.insert(joined.end(), c.begin() + 1, eos);
    for (auto it = eos + 1; it != c.end(); ++it) EXPECT_EQ(*it, tok.pad_id());
  }
  EXPECT_EQ(joined, body);
  // No limit written (or transformers' 1e30 sentinel for none): CLIP's 77.
  EXPECT_EQ(ClipTokenizer::load(tokenizer_with_window("tok_window_none", nullptr)).window(), 77);
  EXPECT_EQ(ClipTokenizer::load(tokenizer_with_window("tok_window_huge", 1e30)).window(), 77);
  try {
    ClipTokenizer::load(tokenizer_with_window("tok_window2", 2));
    FAIL() << "a window of 2 holds no token";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_max_length"), std::string::npos) << e.what();
  }
}
