// Maps a word onto the concept inventory of a model (the concepts its prtkl.json says it can draw), by WordNet
// path similarity: 1 / (1 + the shortest hypernym path between two noun senses through a common ancestor).
#pragma once
#include <string>
#include <vector>

namespace prtkl {

struct ConceptMatch {
  std::string concept;
  double score = 0;  // 1 for the word itself, else the best path similarity
  std::string reason;
};

// Compares the word's own senses (nouns; verbs and adjectives through their related nouns) and, a little
// weaker, the nouns of the scene already found for it with every concept's nouns; the best pair wins, earlier
// concepts win ties. With no WordNet relation at all the first concept is chosen and the reason says so.
ConceptMatch nearest_concept(const std::string& word, const std::string& scene,
                             const std::vector<std::string>& concepts);

}  // namespace prtkl
