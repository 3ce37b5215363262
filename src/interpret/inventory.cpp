#include "interpret/inventory.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/unicode.h"
#include "interpret/sanitize.h"
#include "interpret/wordnet.h"

namespace prtkl {

namespace {

bool is_english(const std::string& language) { return language == "en" || language.rfind("en-", 0) == 0; }

// Lower case in every script (CLDR writes "Liebe", "Любовь"), typographic apostrophes as ASCII, single spaces:
// a word the user typed and a keyword compare equal when they are the same word.
std::string fold_key(const std::string& text) {
  std::u32string out;
  for (char32_t cp : unicode::decode_utf8(text)) {
    if (unicode::is_whitespace(cp)) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
      continue;
    }
    out.push_back(cp == 0x2018 || cp == 0x2019 ? '\'' : unicode::to_lower(cp));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return unicode::encode_utf8(out);
}

// A caption is the scene, used verbatim because the model learnt it so ("couple with heart: woman, man"); it is
// model data, not a provider's answer, but it still may not carry prompt syntax (weights, brackets) or lines.
void check_caption(const std::string& caption, const std::string& where) {
  static const std::u32string punctuation = U"-,:.'\u2019";
  int words = 0;
  bool in_word = false;
  for (char32_t cp : unicode::decode_utf8(caption)) {
    if (cp == ' ') {
      in_word = false;
      continue;
    }
    if (!unicode::is_letter(cp) && !unicode::is_number(cp) && punctuation.find(cp) == std::u32string::npos)
      fail(where, ": field 'caption' ('", caption, "') may hold only letters, digits, spaces and - , : . '");
    words += in_word ? 0 : 1;
    in_word = true;
  }
  if (words == 0) fail(where, ": field 'caption' is empty");
  if (words > kMaxSceneWords) fail(where, ": field 'caption' has ", words, " words, more than ", kMaxSceneWords);
}

// Whether an English keyword can stand in for a typed word: the pivot is handed to the providers as the word.
bool is_plain_word(const std::string& key) {
  try {
    return normalize_word(key) == key;
  } catch (const Error&) {
    return false;  // "143", "a+": CLDR keywords no one types as a word
  }
}

size_t common_prefix(const std::string& a, const std::string& b) {
  const auto x = unicode::decode_utf8(a), y = unicode::decode_utf8(b);
  size_t n = 0;
  while (n < x.size() && n < y.size() && x[n] == y[n]) ++n;
  return n;
}

std::string n_concepts(size_t concepts) {
  return std::to_string(concepts) + (concepts == 1 ? " concept" : " concepts");
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

Inventory Inventory::load(const std::string& path) {
  const std::string text = read_file(path);
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(path, ": invalid JSON (", e.what(), ")");
  }
  return from_json(json, path, content_hash(text));
}

Inventory Inventory::from_json(const Json& json, const std::string& source, const std::string& hash) {
  if (!json.is_object() || !json.contains("concepts") || !json.at("concepts").is_array())
    fail(source, ": expected an object with a list 'concepts'");
  const auto& list = json.at("concepts");
  if (list.empty()) fail(source, ": field 'concepts' is empty");
  Inventory inv;
  // Caption words repeat ("face", "man", "heart"); WordNet is asked once for each (most of the loading time).
  std::unordered_map<std::string, std::set<std::string>> forms_of;
  inv.source_ = source;
  inv.hash_ = hash;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = source + ": concepts[" + std::to_string(i) + "]";
    if (!list[i].is_object()) fail(where, ": expected an object");
    const Config cfg(list[i], where);
    const auto caption = cfg.get<std::string>("caption");
    check_caption(caption, where);
    if (!inv.by_caption_.emplace(fold_key(caption), i).second) fail(where, ": caption '", caption, "' is listed twice");
    inv.captions_.push_back(caption);

    // English: the caption, the CLDR label and keywords (names.en), and the keywords the dataset kept.
    auto names = cfg.get_or<std::map<std::string, std::vector<std::string>>>("names", {});
    std::vector<std::string> english{caption};
    for (const auto& [language, words] : names)
      if (is_english(language)) english.insert(english.end(), words.begin(), words.end());
    for (const auto& k : cfg.get_or<std::vector<std::string>>("keywords", {})) english.push_back(k);
    inv.english_.emplace_back();
    for (const auto& w : english) {
      const auto key = fold_key(w);
      auto& mine = inv.english_.back();
      if (key.empty() || std::find(mine.begin(), mine.end(), key) != mine.end()) continue;
      mine.push_back(key);
      inv.english_index_[key].push_back(i);
    }
    for (const auto& [language, words] : names) {
      if (is_english(language)) continue;
      for (const auto& w : words)
        if (const auto key = fold_key(w); !key.empty()) inv.foreign_index_[key].push_back({i, language});
    }

    const auto words = content_words(caption);
    inv.caption_word_counts_.push_back(words.size());
    for (size_t p = 0; p < words.size(); ++p) {
      auto known = forms_of.find(words[p]);
      if (known == forms_of.end()) {
        std::set<std::string> forms{words[p]};
        for (const auto& b : wordnet::base_forms(words[p], wordnet::Pos::Noun)) forms.insert(b);
        known = forms_of.emplace(words[p], std::move(forms)).first;
      }
      for (const auto& f : known->second) inv.caption_words_[f].push_back({i, p});
    }
  }
  std::vector<size_t> order(inv.captions_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return inv.caption_word_counts_[a] < inv.caption_word_counts_[b]; });
  for (size_t i : order) inv.simplest_first_.push_back(inv.captions_[i]);
  return inv;
}

std::optional<EnglishPivot> Inventory::english_pivot(const std::string& word) const {
  const auto key = fold_key(word);
  const auto hits = foreign_index_.find(key);
  if (hits == foreign_index_.end() || english_index_.count(key)) return std::nullopt;
  std::vector<size_t> mine;
  std::set<std::string> languages;
  for (const auto& h : hits->second) {
    mine.push_back(h.concept);
    languages.insert(h.language);
  }
  std::sort(mine.begin(), mine.end());
  mine.erase(std::unique(mine.begin(), mine.end()), mine.end());

  // The English word whose concepts overlap the word's most (Jaccard similarity), one extra concept in the
  // union so that a keyword of a few of them does not beat one that all of them share.
  // Ties go to more shared concepts, then to a cognate (the longer common prefix: "libertad" -> "liberty"), then
  // to the word met first (labels come before keywords).
  std::tuple<double, size_t, size_t> best{-1.0, 0, 0};
  std::string pivot;
  std::set<std::string> tried;
  for (size_t c : mine) {
    for (const auto& e : english_[c]) {
      if (!tried.insert(e).second || !is_plain_word(e)) continue;
      const auto& theirs = english_index_.at(e);
      size_t shared = 0;
      for (size_t t : theirs) shared += std::binary_search(mine.begin(), mine.end(), t) ? 1 : 0;
      const double score = double(shared) / double(mine.size() + theirs.size() - shared + 1);
      const std::tuple<double, size_t, size_t> rank{score, shared, common_prefix(key, e)};
      if (rank > best) {
        best = rank;
        pivot = e;
      }
    }
  }
  if (pivot.empty()) return std::nullopt;
  return EnglishPivot{pivot, "'" + word + "' is a CLDR keyword (" + join(languages) + ") of " +
                                 n_concepts(mine.size()) + ", " + std::to_string(std::get<1>(best)) +
                                 " of them with the English keyword '" + pivot + "'"};
}

ConceptMatch Inventory::match(const std::string& word, const std::string& scene) const {
  const auto key = fold_key(word);
  if (const auto it = by_caption_.find(key); it != by_caption_.end())
    return {captions_[it->second], 1.0, "the word is the concept's caption"};
  static const std::vector<size_t> none;
  const auto kw = english_index_.find(key);
  const auto& keyword_of = kw == english_index_.end() ? none : kw->second;  // ascending
  const auto is_keyword = [&](size_t c) { return std::binary_search(keyword_of.begin(), keyword_of.end(), c); };

  // The scene shows a concept when every word of its caption is in the scene (nouns also by base form).
  const auto scene_words = content_words(scene);
  std::set<std::string> forms(scene_words.begin(), scene_words.end());
  for (const auto& w : scene_words)
    for (const auto& b : wordnet::base_forms(w, wordnet::Pos::Noun)) forms.insert(b);
  std::map<size_t, std::set<size_t>> covered;  // concept -> caption words found in the scene
  for (const auto& f : forms)
    if (const auto it = caption_words_.find(f); it != caption_words_.end())
      for (const auto& [c, p] : it->second) covered[c].insert(p);
  std::optional<size_t> shown;
  const auto rank = [&](size_t c) { return std::make_pair(is_keyword(c), caption_word_counts_[c]); };
  for (const auto& [c, words] : covered)
    if (words.size() == caption_word_counts_[c] && (!shown || rank(c) > rank(*shown))) shown = c;
  if (shown) {
    const auto n = caption_word_counts_[*shown];
    return {captions_[*shown], std::min(1.0, double(n) / double(scene_words.size())),
            "the scene '" + scene + "' shows '" + captions_[*shown] + "'" +
                (is_keyword(*shown) ? ", which has the CLDR keyword '" + word + "'" : "")};
  }

  if (!keyword_of.empty()) {
    auto order = keyword_of;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return caption_word_counts_[a] < caption_word_counts_[b]; });
    std::vector<std::string> candidates;
    for (size_t c : order) candidates.push_back(captions_[c]);
    auto m = nearest_concept(word, scene, candidates);
    m.reason = "'" + word + "' is a CLDR keyword of " + n_concepts(candidates.size()) + "; " + m.reason;
    return m;
  }
  std::call_once(all_senses_->once,
                 [&] { all_senses_->senses = std::make_unique<const ConceptSenses>(simplest_first_); });
  return all_senses_->senses->nearest(word, scene);
}

}  // namespace prtkl
