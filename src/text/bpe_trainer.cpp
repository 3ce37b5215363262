#include "text/bpe_trainer.h"

#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "core/unicode.h"
#include "text/clip_tokenizer.h"
#include "text/clip_vocab.h"

namespace prtkl {

BpeTrainResult train_clip_bpe(const std::vector<std::string>& texts, int64_t vocab_size, const std::string& out_dir,
                              int64_t window) {
  if (window < 3) fail("tokenizer window ", window, " must be >= 3 (bos, a token, eos)");
  constexpr int64_t kBase = 512 + 2;  // bytes, bytes + </w>, the two special tokens
  if (vocab_size < kBase) fail("BPE vocabulary size must be at least ", kBase, " (got ", vocab_size, ")");
  // Each distinct word as its symbols (one per character, the last with </w>), with its count.
  std::map<std::string, int64_t> counts;
  for (const auto& t : texts)
    for (const auto& w : ClipTokenizer::pretokenize(t)) ++counts[w];
  std::vector<std::vector<std::string>> words;
  std::vector<int64_t> freq;
  for (const auto& [w, n] : counts) {
    std::vector<std::string> symbols;
    for (char32_t cp : unicode::decode_utf8(w)) symbols.push_back(unicode::encode_utf8(cp));
    symbols.back() += "</w>";
    words.push_back(std::move(symbols));
    freq.push_back(n);
  }

  BpeMerges merges;
  while (kBase + static_cast<int64_t>(merges.size()) < vocab_size) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (size_t i = 0; i < words.size(); ++i)
      for (size_t j = 0; j + 1 < words[i].size(); ++j) pairs[{words[i][j], words[i][j + 1]}] += freq[i];
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_n = 1;  // a pair must occur at least twice to earn a token
    for (const auto& [p, n] : pairs)
      if (n > best_n) best_n = n, best = &p;
    if (!best) break;
    const auto [a, b] = *best;
    merges.emplace_back(a, b);
    for (auto& w : words) {
      std::vector<std::string> merged;
      for (size_t j = 0; j < w.size();) {
        if (j + 1 < w.size() && w[j] == a && w[j + 1] == b) {
          merged.push_back(a + b);
          j += 2;
        } else {
          merged.push_back(w[j++]);
        }
      }
      w.swap(merged);
    }
  }

  write_clip_tokenizer(merges, {"<|endoftext|>", window}, out_dir);
  const auto vocab_size_written = static_cast<int64_t>(clip_vocab_tokens(merges).size());
  return {vocab_size_written, static_cast<int64_t>(merges.size()), static_cast<int64_t>(words.size())};
}

BpeTrainResult train_tokenizer_from_metadata(const std::string& jsonl, int64_t vocab_size, const std::string& out_dir,
                                             int64_t window) {
  std::istringstream in(read_file(jsonl));
  std::vector<std::string> texts;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception& e) {
      fail(jsonl, ":", n, ": ", e.what());
    }
    if (!j.contains("text") || !j["text"].is_string()) fail(jsonl, ":", n, ": needs a string field \"text\"");
    texts.push_back(j["text"].get<std::string>());
  }
  if (texts.empty()) fail(jsonl, ": no captions");
  return train_clip_bpe(texts, vocab_size, out_dir, window);
}

}  // namespace prtkl
