#include "interpret/concepts.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "interpret/wordnet.h"

namespace prtkl {

namespace {

using wordnet::Pos;
using wordnet::Relation;
using wordnet::SynsetId;

// Scene nouns say less about the word than its own senses ("freedom" -> "a bird ... cage").
constexpr double kSceneWeight = 0.9;
constexpr size_t kSensesPerWord = 3;

void add_noun_senses(const std::string& word, size_t n, std::vector<SynsetId>& out) {
  for (const auto& lemma : wordnet::base_forms(word, Pos::Noun)) {
    auto s = wordnet::senses(lemma, Pos::Noun);
    for (size_t i = 0; i < s.size() && i < n; ++i) out.push_back(s[i]);
    if (!s.empty()) return;
  }
}

// The word's noun senses, or for a verb, adjective or adverb the nouns its first senses link to.
std::vector<SynsetId> word_senses(const std::string& word) {
  std::vector<SynsetId> out;
  add_noun_senses(word, kSensesPerWord, out);
  if (!out.empty()) return out;
  for (Pos pos : {Pos::Verb, Pos::Adj, Pos::Adv}) {
    for (const auto& lemma : wordnet::base_forms(word, pos)) {
      const auto senses = wordnet::senses(lemma, pos);
      for (size_t i = 0; i < senses.size() && i < 2; ++i) {
        for (const auto& link : wordnet::synset(senses[i]).links) {
          if (link.target.pos == Pos::Noun) out.push_back(link.target);
          // An adverb reaches nouns through its adjective ("quickly" -> "quick" -> "quickness").
          if (link.relation == Relation::Pertainym && link.target.pos == Pos::Adj)
            for (const auto& l2 : wordnet::synset(link.target).links)
              if (l2.target.pos == Pos::Noun) out.push_back(l2.target);
        }
      }
    }
    if (!out.empty()) return out;
  }
  return out;
}

// The whole concept when WordNet has it ("teddy bear"), else the nouns among its words.
std::vector<SynsetId> concept_senses(const std::string& concept) {
  std::vector<SynsetId> out;
  add_noun_senses(concept, 2, out);
  if (!out.empty()) return out;
  for (const auto& t : content_words(concept)) add_noun_senses(t, 2, out);
  return out;
}

// 1 / (1 + the shortest path between two synsets through a common ancestor), from their ancestor maps.
double path_similarity(SynsetId a, const std::map<SynsetId, int>& up_a, SynsetId b,
                       const std::map<SynsetId, int>& up_b) {
  if (a == b) return 1.0;
  int best = -1;
  for (const auto& [node, d] : up_a) {
    const auto it = up_b.find(node);
    if (it != up_b.end() && (best < 0 || d + it->second < best)) best = d + it->second;
  }
  return best < 0 ? 0.0 : 1.0 / (1.0 + best);
}

std::string describe(SynsetId id) {
  const auto syn = wordnet::synset(id);
  return syn.words.empty() ? "?" : syn.words.front();
}

}  // namespace

std::vector<std::string> content_words(const std::string& text) {
  static const std::set<std::string> skip = {"a",   "an",  "the", "of",  "in",  "on", "at",   "with", "and", "to",
                                             "two", "one", "its", "his", "her", "by", "from", "into", "over"};
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string t; in >> t;) {
    for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    // Inventory captions keep their punctuation ("couple with heart: woman, man", "Mrs. Claus").
    while (!t.empty() && (t.back() == ',' || t.back() == ':' || t.back() == '.')) t.pop_back();
    if (t.size() > 2 && t.compare(t.size() - 2, 2, "'s") == 0) t.resize(t.size() - 2);
    if (!t.empty() && !skip.count(t)) out.push_back(t);
  }
  return out;
}

ConceptSenses::ConceptSenses(std::vector<std::string> concepts) : concepts_(std::move(concepts)) {
  if (concepts_.empty()) fail("no concepts to choose from");
  for (const auto& c : concepts_) {
    words_.push_back(content_words(c));
    senses_.emplace_back();
    for (const auto& id : concept_senses(c)) senses_.back().push_back({id, wordnet::ancestors(id)});
  }
}

ConceptMatch ConceptSenses::nearest(const std::string& word, const std::string& scene) const {
  for (size_t i = 0; i < concepts_.size(); ++i)
    if (concepts_[i] == word || std::find(words_[i].begin(), words_[i].end(), word) != words_[i].end())
      return {concepts_[i], 1.0, "the word itself"};
  struct Source {
    Sense sense;
    double weight;
  };
  std::vector<Source> sources;
  for (const auto& id : word_senses(word)) sources.push_back({{id, wordnet::ancestors(id)}, 1.0});
  for (const auto& t : content_words(scene)) {
    std::vector<SynsetId> s;
    add_noun_senses(t, 1, s);
    for (const auto& id : s) sources.push_back({{id, wordnet::ancestors(id)}, kSceneWeight});
  }
  ConceptMatch best{concepts_.front(), 0.0, "no WordNet relation to any concept; the first concept"};
  for (size_t i = 0; i < concepts_.size(); ++i) {
    for (const auto& target : senses_[i]) {
      for (const auto& src : sources) {
        const double score =
            path_similarity(src.sense.id, src.sense.ancestors, target.id, target.ancestors) * src.weight;
        if (score > best.score) {
          best = {concepts_[i], score,
                  "path similarity of '" + describe(src.sense.id) + "'" +
                      (src.weight < 1.0 ? " (from the scene)" : "") + " and '" + describe(target.id) + "'"};
        }
      }
    }
  }
  return best;
}

ConceptMatch nearest_concept(const std::string& word, const std::string& scene,
                             const std::vector<std::string>& concepts) {
  return ConceptSenses(concepts).nearest(word, scene);
}

}  // namespace prtkl
