// Maps a word onto the concept inventory of a model (the concepts its prtkl.json says it can draw), by WordNet
// path similarity: 1 / (1 + the shortest hypernym path between two noun senses through a common ancestor).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "interpret/wordnet.h"

namespace prtkl {

struct ConceptMatch {
  std::string concept;
  double score = 0;  // 1 for the word itself; else the best path similarity, or the share of the scene shown
  std::string reason;
};

// The words of a scene or concept that name something, lower case: articles, prepositions, "one" and "two"
// dropped, edge commas, colons, full stops and a possessive 's cut ("two people hugging" -> people, hugging).
std::vector<std::string> content_words(const std::string& text);

// A concept list with its WordNet noun senses and their ancestors looked up once, the costly part of matching: a
// large inventory is then matched by reading only each word's own senses. Safe to share between threads.
class ConceptSenses {
 public:
  explicit ConceptSenses(std::vector<std::string> concepts);  // throws for an empty list
  // nearest_concept() against these concepts.
  ConceptMatch nearest(const std::string& word, const std::string& scene) const;

 private:
  struct Sense {
    wordnet::SynsetId id;
    std::map<wordnet::SynsetId, int> ancestors;
  };
  std::vector<std::string> concepts_;
  std::vector<std::vector<std::string>> words_;  // content words per concept
  std::vector<std::vector<Sense>> senses_;
};

// Compares the word's own senses (nouns; verbs and adjectives through their related nouns) and, a little
// weaker, the nouns of the scene already found for it with every concept's nouns; the best pair wins, earlier
// concepts win ties. With no WordNet relation at all the first concept is chosen and the reason says so.
ConceptMatch nearest_concept(const std::string& word, const std::string& scene,
                             const std::vector<std::string>& concepts);

}  // namespace prtkl
