#include "interpret/offline_provider.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>

#include "interpret/wordnet.h"

namespace prtkl {

namespace {

using wordnet::Pos;
using wordnet::Relation;
using wordnet::SynsetId;

// Bump when the WordNet rules change, so cached offline answers are recomputed.
constexpr const char* kOfflineVersion = "offline-v1";

// Lexicographer files whose senses can be drawn as they are.
bool is_concrete(const std::string& lexfile) {
  static const std::set<std::string> concrete = {"noun.animal", "noun.artifact", "noun.body",  "noun.food",
                                                 "noun.object", "noun.person",   "noun.plant", "noun.substance",
                                                 "noun.shape",  "noun.location"};
  return concrete.count(lexfile) > 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Candidate {
  Pos pos;
  std::string lemma;
  int count;  // corpus frequency of the first sense
  size_t senses;
};

// Every (part of speech, base form) reading of the word, the most frequent first. Without frequency evidence
// the reading with more senses (a commoner word) wins, then WordNet's order noun, verb, adjective, adverb.
std::vector<Candidate> readings(const std::string& word) {
  std::vector<Candidate> out;
  for (Pos pos : wordnet::kAllPos) {
    for (const auto& lemma : wordnet::base_forms(word, pos)) {
      const auto counts = wordnet::sense_counts(lemma, pos);
      if (!counts.empty()) out.push_back({pos, lemma, counts.front(), counts.size()});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.count != b.count ? a.count > b.count : a.senses > b.senses;
  });
  return out;
}

struct Found {
  std::string scene;
  std::string via;
};

// Breadth-first over WordNet from `starts` to the nearest synset with a lexicon word. Hypernyms are followed up
// to `max_depth`; sideways links (similar, attribute, derivation, pertainym, see-also) only for the first
// `sideways` steps, where they still mean the same thing (two derivation steps from a noun already reach its
// agent, "government" -> "govern" -> "governor"), which also keeps the search to a few hundred synsets.
bool nearest_lexicon_word(const std::vector<SynsetId>& starts, int max_depth, int sideways, const Lexicon& lexicon,
                          Found& found) {
  constexpr size_t kMaxVisited = 400;
  std::deque<std::pair<SynsetId, int>> queue;
  std::set<SynsetId> seen;
  for (const auto& s : starts)
    if (seen.insert(s).second) queue.push_back({s, 0});
  while (!queue.empty() && seen.size() < kMaxVisited) {
    const auto [id, depth] = queue.front();
    queue.pop_front();
    const auto syn = wordnet::synset(id);
    for (const auto& w : syn.words) {
      const auto* e = lexicon.find(lower(w));
      if (e && e->category != "lexfile" && e->category != "fallback") {
        found = {e->scene, lower(w)};
        return true;
      }
    }
    if (depth >= max_depth) continue;
    for (const auto& link : syn.links) {
      const bool up = link.relation == Relation::Hypernym || link.relation == Relation::InstanceOf;
      if (!up && depth >= sideways) continue;
      if (seen.insert(link.target).second) queue.push_back({link.target, depth + 1});
    }
  }
  return false;
}

std::vector<SynsetId> first_senses(const std::string& lemma, Pos pos, size_t n) {
  auto s = wordnet::senses(lemma, pos);
  if (s.size() > n) s.resize(n);
  return s;
}

ProviderAnswer noun_scene(const std::string& lemma, const Lexicon& lexicon) {
  const auto senses = wordnet::senses(lemma, Pos::Noun);
  auto syn = wordnet::synset(senses.front());
  // With no corpus evidence for the first sense, a drawable sense is as good a guess ("teacup": the cup, not
  // the quantity it holds).
  if (!is_concrete(syn.lexfile) && wordnet::sense_counts(lemma, Pos::Noun).front() == 0) {
    for (size_t i = 1; i < senses.size(); ++i) {
      auto other = wordnet::synset(senses[i]);
      if (is_concrete(other.lexfile)) {
        syn = std::move(other);
        break;
      }
    }
  }
  if (is_concrete(syn.lexfile)) {
    // Mass nouns read badly with an article ("a sand"); a pile of it is drawable.
    const auto scene = syn.lexfile == "noun.substance" ? "a pile of " + lemma : with_article(lemma);
    return {scene, "wordnet: concrete noun (" + syn.lexfile + ")"};
  }
  Found f;
  if (nearest_lexicon_word({syn.id}, 6, 1, lexicon, f))
    return {f.scene, "wordnet: abstract noun (" + syn.lexfile + ") via '" + f.via + "'"};
  if (const auto* e = lexicon.find(syn.lexfile)) return {e->scene, "wordnet: abstract noun (" + syn.lexfile + ")"};
  return {lexicon.fallback_scene(), "fallback: abstract noun (" + syn.lexfile + ") with no related scene"};
}

ProviderAnswer adjective_scene(const std::string& lemma, const Lexicon& lexicon) {
  Found f;
  if (nearest_lexicon_word(first_senses(lemma, Pos::Adj, 2), 3, 2, lexicon, f))
    return {f.scene, "wordnet: adjective via '" + f.via + "'"};
  return {with_article(lemma) + " figure standing", "wordnet: adjective"};
}

// Verbs become "a figure <verb>ing", except verbs of feeling, which show the feeling itself: "terrified" is
// better drawn as terror than as "a figure terrifying".
ProviderAnswer verb_scene(const std::string& lemma, const Lexicon& lexicon) {
  const auto senses = wordnet::senses(lemma, Pos::Verb);
  Found f;
  if (wordnet::synset(senses.front()).lexfile == "verb.emotion" &&
      nearest_lexicon_word({senses.front()}, 1, 1, lexicon, f))
    return {f.scene, "wordnet: verb of feeling via '" + f.via + "'"};
  return {"a figure " + gerund(lemma), "wordnet: verb '" + lemma + "'"};
}

ProviderAnswer adverb_scene(const std::string& lemma, const Lexicon& lexicon) {
  Found f;
  if (nearest_lexicon_word(first_senses(lemma, Pos::Adv, 1), 3, 2, lexicon, f))
    return {f.scene, "wordnet: adverb via '" + f.via + "'"};
  return {"a figure walking " + lemma, "wordnet: adverb"};
}

}  // namespace

std::string with_article(const std::string& noun) {
  static const char* a_before_vowel[] = {"uni", "use", "usu", "uti", "ure", "eu", "one", "once", "ewe", "ubiq"};
  static const char* an_before_h[] = {"hour", "honest", "honor", "honour", "heir"};
  const auto starts = [&](const char* p) { return noun.rfind(p, 0) == 0; };
  bool an = !noun.empty() && std::string("aeiou").find(noun[0]) != std::string::npos;
  if (an && std::any_of(std::begin(a_before_vowel), std::end(a_before_vowel), starts)) an = false;
  if (!an && std::any_of(std::begin(an_before_h), std::end(an_before_h), starts)) an = true;
  return (an ? "an " : "a ") + noun;
}

std::string gerund(const std::string& verb) {
  if (const auto sp = verb.find(' '); sp != std::string::npos) return gerund(verb.substr(0, sp)) + verb.substr(sp);
  // Stress-final verbs double their consonant although they have two syllables; a few others are irregular.
  static const std::map<std::string, std::string> irregular = {
      {"be", "being"},          {"see", "seeing"},        {"ski", "skiing"},          {"singe", "singeing"},
      {"dye", "dyeing"},        {"quit", "quitting"},     {"begin", "beginning"},     {"forget", "forgetting"},
      {"admit", "admitting"},   {"commit", "committing"}, {"permit", "permitting"},   {"occur", "occurring"},
      {"prefer", "preferring"}, {"refer", "referring"},   {"control", "controlling"}, {"regret", "regretting"},
      {"upset", "upsetting"},   {"rebel", "rebelling"},   {"compel", "compelling"},   {"patrol", "patrolling"}};
  if (const auto it = irregular.find(verb); it != irregular.end()) return it->second;
  const auto ends = [&](const char* s) {
    const std::string suffix(s);
    return verb.size() >= suffix.size() && verb.compare(verb.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends("ie")) return verb.substr(0, verb.size() - 2) + "ying";
  if (ends("ee") || ends("oe") || ends("ye")) return verb + "ing";
  if (ends("e") && verb.size() > 2) return verb.substr(0, verb.size() - 1) + "ing";
  const auto vowel = [](char c) { return std::string("aeiou").find(c) != std::string::npos; };
  int groups = 0;
  for (size_t i = 0; i < verb.size(); ++i) groups += vowel(verb[i]) && (i == 0 || !vowel(verb[i - 1])) ? 1 : 0;
  const size_t n = verb.size();
  const bool cvc = n >= 3 && !vowel(verb[n - 3]) && vowel(verb[n - 2]) && !vowel(verb[n - 1]) &&
                   std::string("wxy").find(verb[n - 1]) == std::string::npos;
  if (groups == 1 && cvc) return verb + verb.back() + "ing";
  return verb + "ing";
}

OfflineProvider::OfflineProvider(std::shared_ptr<const Lexicon> lexicon)
    : lexicon_(std::move(lexicon)), cache_id_(std::string(kOfflineVersion) + "@" + lexicon_->hash()) {}

ProviderAnswer OfflineProvider::interpret(const std::string& word) {
  if (const auto* e = lexicon_->find(word)) return {e->scene, "lexicon"};
  const auto options = readings(word);
  if (options.empty()) return {lexicon_->fallback_scene(), "fallback: not an English word in WordNet"};
  for (const auto& c : options)
    if (const auto* e = lexicon_->find(c.lemma))
      return {e->scene, "lexicon via " + std::string(wordnet::pos_name(c.pos)) + " '" + c.lemma + "'"};
  const auto& best = options.front();
  switch (best.pos) {
    case Pos::Noun:
      return noun_scene(best.lemma, *lexicon_);
    case Pos::Verb:
      return verb_scene(best.lemma, *lexicon_);
    case Pos::Adj:
      return adjective_scene(best.lemma, *lexicon_);
    case Pos::Adv:
      return adverb_scene(best.lemma, *lexicon_);
  }
  return {lexicon_->fallback_scene(), "fallback"};
}

}  // namespace prtkl
