#include "text/clip_tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "core/unicode.h"
#include "text/clip_vocab.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

// GPT-2's reversible byte -> printable character table.
void bytes_to_unicode(std::string (&table)[256]) {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<bool> direct(256, false);
  for (int b : bs) direct[b] = true;
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    table[b] = unicode::encode_utf8(direct[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++));
}

bool is_cjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// transformers' BasicTokenizer (no accent stripping, no punctuation split) followed by CLIP's whitespace_clean
// and lower(): control characters dropped, whitespace -> one space, spaces around CJK, words lower-cased.
std::u32string clean_text(const std::string& text) {
  std::u32string spaced;
  for (char32_t cp : unicode::decode_utf8(text)) {
    if (cp == 0 || cp == 0xFFFD) continue;
    const bool ws = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || unicode::is_space_separator(cp);
    if (!ws && unicode::is_other(cp)) continue;
    if (ws) {
      spaced += U' ';
    } else if (is_cjk(cp)) {
      spaced += U' ';
      spaced += cp;
      spaced += U' ';
    } else {
      spaced += unicode::to_lower(cp);
    }
  }
  std::u32string out;
  for (char32_t cp : spaced) {
    if (unicode::is_whitespace(cp)) {
      if (!out.empty() && out.back() != U' ') out += U' ';
    } else {
      out += cp;
    }
  }
  if (!out.empty() && out.back() == U' ') out.pop_back();
  return out;
}

bool starts_with_at(const std::u32string& s, size_t i, const std::u32string& p) {
  return s.compare(i, p.size(), p) == 0;
}

// CLIP's split pattern: <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::u32string> split_words(const std::u32string& s) {
  static const std::u32string specials[] = {U"<|startoftext|>", U"<|endoftext|>"};
  static const std::u32string contractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < s.size()) {
    const char32_t c = s[i];
    if (unicode::is_whitespace(c)) {
      ++i;
      continue;
    }
    size_t len = 0;
    for (const auto& p : specials)
      if (!len && starts_with_at(s, i, p)) len = p.size();
    for (const auto& p : contractions)
      if (!len && starts_with_at(s, i, p)) len = p.size();
    if (!len && unicode::is_letter(c)) {
      while (i + len < s.size() && unicode::is_letter(s[i + len])) ++len;
    } else if (!len && unicode::is_number(c)) {
      len = 1;
    } else if (!len) {
      while (i + len < s.size() && !unicode::is_whitespace(s[i + len]) && !unicode::is_letter(s[i + len]) &&
             !unicode::is_number(s[i + len]))
        ++len;
    }
    words.push_back(s.substr(i, len));
    i += len;
  }
  return words;
}

std::string token_content(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return "";
}

}  // namespace

ClipTokenizer::ClipTokenizer(const ClipTokenizer& o)
    : source_(o.source_), encoder_(o.encoder_), merge_ranks_(o.merge_ranks_), added_(o.added_),
      bos_(o.bos_), eos_(o.eos_), pad_(o.pad_), window_(o.window_), cache_(),
      cache_mutex_(std::make_unique<std::mutex>()) {}

ClipTokenizer& ClipTokenizer::operator=(const ClipTokenizer& o) {
  if (this != &o) *this = ClipTokenizer(o);
  return *this;
}

ClipTokenizer ClipTokenizer::load(const std::string& dir) {
  Parts parts;
  parts.source = dir;
  const auto vocab_path = (fs::path(dir) / "vocab.json").string();
  const auto vocab = read_json_file(vocab_path);
  if (!vocab.is_object() || vocab.empty()) fail(vocab_path, ": expected a non-empty {token: id} object");
  for (const auto& [tok, id] : vocab.items()) {
    if (!id.is_number_integer()) fail(vocab_path, ": id of token '", tok, "' is not an integer");
    parts.vocab[tok] = id.get<int64_t>();
  }
  parts.merges = read_bpe_merges((fs::path(dir) / "merges.txt").string());

  Json config = Json::object();
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const auto p = fs::path(dir) / name;
    if (fs::exists(p)) config.update(read_json_file(p.string()));
  }
  auto special = [&](const char* field, std::string& tok) {
    if (!config.contains(field)) return;
    const auto s = token_content(config.at(field));
    if (!s.empty()) tok = s;
  };
  special("bos_token", parts.bos);
  special("eos_token", parts.eos);
  special("pad_token", parts.pad);
  if (config.contains("added_tokens_decoder"))
    for (const auto& [id, v] : config.at("added_tokens_decoder").items()) parts.added.push_back(token_content(v));
  // transformers writes a huge number (int(1e30)) for "no limit"; CLIP models then use their 77 positions.
  if (config.contains("model_max_length") && config.at("model_max_length").is_number()) {
    const double n = config.at("model_max_length").get<double>();
    if (n < 3 || n != std::floor(n))
      fail(dir, "/tokenizer_config.json: model_max_length ", n, " must be a whole number >= 3 (bos, a token, eos)");
    if (n < 1e6) parts.window = static_cast<int64_t>(n);
  }
  return from_parts(std::move(parts));
}

ClipTokenizer ClipTokenizer::from_parts(Parts parts) {
  ClipTokenizer t;
  t.source_ = parts.source;
  t.encoder_ = std::move(parts.vocab);
  // A merge listed twice ranks by its last line, as transformers' dict(zip(merges, range(...))) does.
  for (size_t i = 0; i < parts.merges.size(); ++i) t.merge_ranks_[parts.merges[i]] = static_cast<int64_t>(i);
  auto id_of = [&](const char* field, const std::string& tok) {
    auto it = t.encoder_.find(tok);
    if (it == t.encoder_.end()) fail(parts.source, ": ", field, " '", tok, "' is not in the vocabulary");
    return it->second;
  };
  t.bos_ = id_of("bos_token", parts.bos);
  t.eos_ = id_of("eos_token", parts.eos);
  t.pad_ = id_of("pad_token", parts.pad);
  if (parts.window < 3) fail(parts.source, ": window ", parts.window, " must be >= 3 (bos, a token, eos)");
  t.window_ = parts.window;
  t.added_ = std::move(parts.added);
  for (const auto& s : {parts.bos, parts.eos, parts.pad})  // specials, and a pad token such as SDXL's "!"
    if (std::find(t.added_.begin(), t.added_.end(), s) == t.added_.end()) t.added_.push_back(s);
  return t;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& token) const {
  {
    std::lock_guard<std::mutex> lock(*cache_mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end()) return it->second;
  }
  std::vector<std::string> word;
  const auto cps = unicode::decode_utf8(token);
  for (size_t i = 0; i < cps.size(); ++i) word.push_back(unicode::encode_utf8(cps[i]));
  if (!word.empty()) word.back() += "</w>";
  while (word.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = merge_ranks_.find({word[i], word[i + 1]});
      if (it != merge_ranks_.end() && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    const std::string a = word[best_i], b = word[best_i + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == a && word[i + 1] == b) {
        merged.push_back(a + b);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word.swap(merged);
  }
  std::lock_guard<std::mutex> lock(*cache_mutex_);
  cache_[token] = word;
  return word;
}

const std::string* ClipTokenizer::byte_characters() {
  static const auto table = [] {
    std::array<std::string, 256> t;
    std::string raw[256];
    bytes_to_unicode(raw);
    std::copy(std::begin(raw), std::end(raw), t.begin());
    return t;
  }();
  return table.data();
}

std::vector<std::string> ClipTokenizer::pretokenize(const std::string& text) {
  const auto* chars = byte_characters();
  std::vector<std::string> words;
  for (const auto& w : split_words(clean_text(text))) {
    std::string bytes;
    for (unsigned char b : unicode::encode_utf8(w)) bytes += chars[b];
    words.push_back(std::move(bytes));
  }
  return words;
}

void ClipTokenizer::tokenize_segment(const std::string& text, std::vector<int64_t>& out) const {
  for (const auto& bytes : pretokenize(text)) {
    for (const auto& piece : bpe(bytes)) {
      auto it = encoder_.find(piece);
      out.push_back(it != encoder_.end() ? it->second : eos_);  // unk_token is <|endoftext|>
    }
  }
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
  // Added tokens split the raw text first (longest match at the earliest position), as transformers does.
  std::vector<int64_t> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    size_t best = 0;
    const std::string* hit = nullptr;
    for (const auto& a : added_)
      if (!a.empty() && a.size() > best && text.compare(i, a.size(), a) == 0) {
        best = a.size();
        hit = &a;
      }
    if (!hit) {
      ++i;
      continue;
    }
    tokenize_segment(text.substr(start, i - start), out);
    out.push_back(encoder_.at(*hit));
    i += best;
    start = i;
  }
  tokenize_segment(text.substr(start), out);
  return out;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids{bos_};
  const auto body = tokenize(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(eos_);
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode_padded(const std::string& text, int64_t max_length) const {
  if (max_length == 0) max_length = window_;
  if (max_length < 2) fail("tokenizer: max_length must be >= 2");
  auto body = tokenize(text);
  if (static_cast<int64_t>(body.size()) > max_length - 2) body.resize(max_length - 2);
  std::vector<int64_t> ids{bos_};
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(eos_);
  ids.resize(max_length, pad_);
  return ids;
}

std::vector<std::vector<int64_t>> ClipTokenizer::encode_chunks(const std::string& text) const {
  const auto body = tokenize(text);
  const size_t per = static_cast<size_t>(window_ - 2);
  std::vector<std::vector<int64_t>> chunks;
  for (size_t s = 0; s == 0 || s < body.size(); s += per) {
    std::vector<int64_t> c{bos_};
    c.insert(c.end(), body.begin() + std::min(s, body.size()), body.begin() + std::min(s + per, body.size()));
    c.push_back(eos_);
    c.resize(static_cast<size_t>(window_), pad_);
    chunks.push_back(std::move(c));
  }
  return chunks;
}

std::vector<int64_t> ClipTokenizer::add_tokens(const std::vector<std::string>& tokens) {
  std::vector<int64_t> ids;
  for (const auto& tok : tokens) {
    if (tok.empty()) fail("tokenizer: cannot add an empty token");
    auto it = encoder_.find(tok);
    if (it == encoder_.end()) it = encoder_.emplace(tok, static_cast<int64_t>(encoder_.size())).first;
    if (std::find(added_.begin(), added_.end(), tok) == added_.end()) added_.push_back(tok);
    ids.push_back(it->second);
  }
  std::lock_guard<std::mutex> lock(*cache_mutex_);
  cache_.clear();
  return ids;
}

int64_t ClipTokenizer::token_id(const std::string& token) const {
  auto it = encoder_.find(token);
  return it == encoder_.end() ? -1 : it->second;
}

}  // namespace prtkl
