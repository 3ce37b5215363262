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

std::vector<std::string> tokens(const std::string& text) {
  static const std::set<std::string> skip = {"a",   "an",  "the", "of",  "in",  "on", "at",   "with", "and", "to",
                                             "two", "one", "its", "his", "her", "by", "from", "into", "over"};
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string t; in >> t;) {
    for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    while (!t.empty() && t.back() == ',') t.pop_back();
    if (t.size() > 2 && t.compare(t.size() - 2, 2, "'s") == 0) t.resize(t.size() - 2);
    if (!t.empty() && !skip.count(t)) out.push_back(t);
  }
  return out;
}

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
  for (const auto& t : tokens(concept)) add_noun_senses(t, 2, out);
  return out;
}

class Similarity {
 public:
  double operator()(SynsetId a, SynsetId b) {
    if (a == b) return 1.0;
    const auto& da = ancestors(a);
    const auto& db = ancestors(b);
    int best = -1;
    for (const auto& [node, d] : da) {
      const auto it = db.find(node);
      if (it != db.end() && (best < 0 || d + it->second < best)) best = d + it->second;
    }
    return best < 0 ? 0.0 : 1.0 / (1.0 + best);
  }

 private:
  const std::map<SynsetId, int>& ancestors(SynsetId id) {
    auto it = cache_.find(id);
    if (it == cache_.end()) it = cache_.emplace(id, wordnet::ancestors(id)).first;
    return it->second;
  }
  std::map<SynsetId, std::map<SynsetId, int>> cache_;
};

std::string describe(SynsetId id) {
  const auto syn = wordnet::synset(id);
  return syn.words.empty() ? "?" : syn.words.front();
}

}  // namespace

ConceptMatch nearest_concept(const std::string& word, const std::string& scene,
                             const std::vector<std::string>& concepts) {
  if (concepts.empty()) fail("no concepts to choose from");
  for (const auto& c : concepts) {
    const auto t = tokens(c);
    if (c == word || std::find(t.begin(), t.end(), word) != t.end()) return {c, 1.0, "the word itself"};
  }
  struct Source {
    SynsetId id;
    double weight;
  };
  std::vector<Source> sources;
  for (const auto& id : word_senses(word)) sources.push_back({id, 1.0});
  for (const auto& t : tokens(scene)) {
    std::vector<SynsetId> s;
    add_noun_senses(t, 1, s);
    for (const auto& id : s) sources.push_back({id, kSceneWeight});
  }
  Similarity similarity;
  ConceptMatch best{concepts.front(), 0.0, "no WordNet relation to any concept; the first concept"};
  for (const auto& c : concepts) {
    for (const auto& target : concept_senses(c)) {
      for (const auto& src : sources) {
        const double score = similarity(src.id, target) * src.weight;
        if (score > best.score) {
          best = {c, score,
                  "path similarity of '" + describe(src.id) + "'" + (src.weight < 1.0 ? " (from the scene)" : "") +
                      " and '" + describe(target) + "'"};
        }
      }
    }
  }
  return best;
}

}  // namespace prtkl
