#include "text/clip_vocab.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "core/resources.h"
#include "core/unicode.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {
constexpr const char* kBos = "<|startoftext|>";
constexpr const char* kEos = "<|endoftext|>";
}  // namespace

std::vector<std::string> clip_vocab_tokens(const BpeMerges& merges) {
  // The byte characters in code point order, which is CLIP's bytes_to_unicode() order.
  const auto* chars = ClipTokenizer::byte_characters();
  std::vector<std::string> bytes(chars, chars + 256);
  std::sort(bytes.begin(), bytes.end(), [](const std::string& x, const std::string& y) {
    return unicode::decode_utf8(x) < unicode::decode_utf8(y);
  });
  std::vector<std::string> tokens = bytes;
  for (const auto& b : bytes) tokens.push_back(b + "</w>");
  std::set<std::string> seen(tokens.begin(), tokens.end());
  for (const auto& [a, b] : merges)
    if (seen.insert(a + b).second) tokens.push_back(a + b);
  tokens.push_back(kBos);
  tokens.push_back(kEos);
  return tokens;
}

BpeMerges read_bpe_merges(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open");
  BpeMerges merges;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if ((n == 1 && line.rfind("#version", 0) == 0) || line.empty()) continue;
    const auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      fail(path, ": line ", n, " is not an 'a b' merge");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return merges;
}

ClipTokenizer clip_tokenizer_from_merges(const BpeMerges& merges, const ClipTokenizerOptions& options) {
  ClipTokenizer::Parts parts;
  const auto tokens = clip_vocab_tokens(merges);
  for (size_t i = 0; i < tokens.size(); ++i) parts.vocab.emplace(tokens[i], static_cast<int64_t>(i));
  parts.merges = merges;
  parts.pad = options.pad_token;
  parts.window = options.window;
  parts.source = "CLIP merges";
  return ClipTokenizer::from_parts(std::move(parts));
}

void write_clip_tokenizer(const BpeMerges& merges, const ClipTokenizerOptions& options, const std::string& out_dir) {
  const auto tokens = clip_vocab_tokens(merges);
  Json vocab = Json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int64_t>(i);
  if (!vocab.contains(options.pad_token)) fail(out_dir, ": pad token '", options.pad_token, "' is not in the vocabulary");
  if (options.window < 3) fail(out_dir, ": tokenizer window ", options.window, " must be >= 3 (bos, a token, eos)");

  fs::create_directories(out_dir);
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : merges) merges_txt += a + " " + b + "\n";
  write_file_atomic((fs::path(out_dir) / "vocab.json").string(), vocab.dump() + "\n");
  write_file_atomic((fs::path(out_dir) / "merges.txt").string(), merges_txt);
  auto special = [](const std::string& s) {
    return Json{{"content", s}, {"lstrip", false}, {"normalized", true}, {"rstrip", false}, {"single_word", false}};
  };
  // transformers lists the specials, and a pad token that is not <|endoftext|> (SDXL's "!"), as added tokens.
  Json added = Json::object();
  for (const std::string s : {std::string(kBos), std::string(kEos), options.pad_token}) {
    added[std::to_string(vocab.at(s).get<int64_t>())] = special(s);
    added[std::to_string(vocab.at(s).get<int64_t>())]["special"] = true;
  }
  Json config{{"tokenizer_class", "CLIPTokenizer"},
              {"bos_token", kBos},
              {"eos_token", kEos},
              {"pad_token", options.pad_token},
              {"unk_token", kEos},
              {"model_max_length", options.window},
              {"clean_up_tokenization_spaces", true},
              {"do_lower_case", true},
              {"errors", "replace"},
              {"added_tokens_decoder", added}};
  write_file_atomic((fs::path(out_dir) / "tokenizer_config.json").string(), config.dump(2) + "\n");
  Json map{{"bos_token", special(kBos)},
           {"eos_token", special(kEos)},
           {"pad_token", options.pad_token == kEos ? special(kEos) : special(options.pad_token)},
           {"unk_token", special(kEos)}};
  write_file_atomic((fs::path(out_dir) / "special_tokens_map.json").string(), map.dump(2) + "\n");
}

std::string openai_clip_merges_path() { return resource_path("third_party/clip/merges.txt"); }

ClipTokenizer openai_clip_tokenizer(const ClipTokenizerOptions& options) {
  const auto path = openai_clip_merges_path();
  if (!fs::exists(path)) fail(path, ": CLIP's merges are missing (set PRTKL_HOME to the prtkl source folder)");
  return clip_tokenizer_from_merges(read_bpe_merges(path), options);
}

}  // namespace prtkl
