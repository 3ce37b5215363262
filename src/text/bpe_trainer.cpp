#include "text/bpe_trainer.h"

#include <filesystem>
#include <algorithm>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "core/unicode.h"
#include "text/clip_tokenizer.h"

namespace prtkl {

namespace fs = std::filesystem;

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

  std::vector<std::pair<std::string, std::string>> merges;
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

  // CLIP's vocabulary order: the byte characters, the same with </w>, the merges, the special tokens.
  Json vocab = Json::object();
  int64_t next = 0;
  const auto* chars = ClipTokenizer::byte_characters();
  std::vector<std::string> byte_tokens(chars, chars + 256);
  std::sort(byte_tokens.begin(), byte_tokens.end(), [](const std::string& x, const std::string& y) {
    return unicode::decode_utf8(x) < unicode::decode_utf8(y);
  });
  std::vector<std::string> ordered = byte_tokens;
  for (const auto& t : byte_tokens) ordered.push_back(t + "</w>");
  for (const auto& [a, b] : merges) ordered.push_back(a + b);
  for (const auto& t : ordered)
    if (!vocab.contains(t)) vocab[t] = next++;
  const int64_t bos = next++, eos = next++;
  vocab["<|startoftext|>"] = bos;
  vocab["<|endoftext|>"] = eos;

  fs::create_directories(out_dir);
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : merges) merges_txt += a + " " + b + "\n";
  write_file_atomic((fs::path(out_dir) / "vocab.json").string(), vocab.dump() + "\n");
  write_file_atomic((fs::path(out_dir) / "merges.txt").string(), merges_txt);
  auto special = [](const char* s) {
    return Json{{"content", s}, {"lstrip", false}, {"normalized", true}, {"rstrip", false}, {"single_word", false}};
  };
  Json config{{"tokenizer_class", "CLIPTokenizer"},
              {"bos_token", "<|startoftext|>"},
              {"eos_token", "<|endoftext|>"},
              {"pad_token", "<|endoftext|>"},
              {"unk_token", "<|endoftext|>"},
              {"model_max_length", window},
              {"clean_up_tokenization_spaces", true},
              {"errors", "replace"},
              {"added_tokens_decoder",
               {{std::to_string(bos), special("<|startoftext|>")}, {std::to_string(eos), special("<|endoftext|>")}}}};
  for (const auto id : {bos, eos}) config["added_tokens_decoder"][std::to_string(id)]["special"] = true;
  write_file_atomic((fs::path(out_dir) / "tokenizer_config.json").string(), config.dump(2) + "\n");
  Json map{{"bos_token", special("<|startoftext|>")},
           {"eos_token", special("<|endoftext|>")},
           {"pad_token", "<|endoftext|>"},
           {"unk_token", special("<|endoftext|>")}};
  write_file_atomic((fs::path(out_dir) / "special_tokens_map.json").string(), map.dump(2) + "\n");
  return {next, static_cast<int64_t>(merges.size()), static_cast<int64_t>(words.size())};
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
